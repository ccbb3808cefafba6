"""``anyrecon models [--models DIR]``: where learned models are looked for, what was found,
what is missing (exact file names) and each model's license. Never downloads anything.
Exit status 0 when at least one learned model is usable, 1 otherwise."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("models", help="list the learned models found in the models folder, what is missing, licenses")
    p.add_argument("--models-dir", "--models", dest="models_dir", type=Path, default=None,
                   help="models folder (default: $ANYRECON_MODELS or ~/.anyrecon/models)")
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.cli import print_json_summary
    from engine.generate.anyrecon import files as mf
    from engine.workflows.models import models_report

    report = models_report(args.models_dir)
    root = report.models_dir
    print(f"models folder: {root}{'' if report.exists else '  (does not exist)'}")
    print("  (set with --models, the studio's Models settings, or ANYRECON_MODELS; nothing is ever downloaded)")
    for m in report.models:
        print(f"\n{m.name}: {m.role}")
        for path in m.found:
            note = "  (cached text context; the T5 file is no longer needed)" if Path(path).name == mf.TEXT_CONTEXT_CACHE else ""
            print(f"  found    {path}{note}")
        for label in m.missing:
            print(f"  MISSING  {root / label}")
        for problem in m.problems:
            print(f"  UNUSABLE {problem}")
        if m.name == "anyrecon":
            cache = mf.discover(root).cache_dir
            if cache.is_dir():
                print(f"  cache    {cache} ({sum(1 for _ in cache.glob('*.safetensors'))} files: merged + converted weights)")
        print(f"  use:     {m.use}")
    print("\nlicenses:")
    for m in report.models:
        for component, lic, source in m.licenses:
            print(f"  {component}: {lic}  [{source}]")
    print()
    for m in report.models:
        n = len(m.missing) + len(m.problems)
        print(f"{m.name}: {'ready' if m.ready else f'missing or unusable: {n} file(s)'}")
    if args.json:
        by = {m.name: m for m in report.models}
        found = mf.discover(root)
        print_json_summary({"command": "models", "models_dir": str(root), "anyrecon_ready": by["anyrecon"].ready,
                            "found": {k: str(v) for k, v in found.found.items()}, "missing": found.missing,
                            "pi3_ready": by["pi3"].ready, "pi3_missing": list(by["pi3"].missing),
                            "pi3_problems": list(by["pi3"].problems)})
    return 0 if report.any_ready else 1
