"""``anyrecon models [--models-dir DIR]``: where learned models are looked for, what was found,
what is missing (exact file names) and each model's license. Never downloads anything."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("models", help="list the learned models found in the models folder, what is missing, licenses")
    p.add_argument("--models-dir", type=Path, default=None,
                   help="models folder (default: $ANYRECON_MODELS or ~/.anyrecon/models)")
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.cli import print_json_summary
    from engine.generate.anyrecon import files as mf
    from engine.generate.registry import GeneratorContext

    root = GeneratorContext(models_dir=args.models_dir).resolved_models_dir
    found = mf.discover(root)
    print(f"models folder: {root}{'' if root.is_dir() else '  (does not exist)'}")
    print("  (set with --models-dir, the studio's settings, or ANYRECON_MODELS; nothing is ever downloaded)")
    print("\nanyrecon generator (Wan2.1-I2V-14B-720P + AnyRecon LoRA):")
    for f in mf.expected_files():
        path = found.found.get(f.name)
        if path is not None:
            note = "  (cached text context; the T5 file is no longer needed)" if path.name == mf.TEXT_CONTEXT_CACHE else ""
            print(f"  found    {path}{note}")
        else:
            print(f"  MISSING  {root / f.label()}")
    cache = found.cache_dir
    if cache.is_dir():
        print(f"  cache    {cache} ({sum(1 for _ in cache.glob('*.safetensors'))} files: merged + converted weights)")
    print("\nlicenses:")
    for model, (lic, source) in mf.LICENSES.items():
        print(f"  {model}: {lic}  [{source}]")
    status = "ready" if found.complete else f"missing {len(found.missing)} file(s)"
    print(f"\nanyrecon: {status}")
    if args.json:
        print_json_summary({"command": "models", "models_dir": str(root), "anyrecon_ready": found.complete,
                            "found": {k: str(v) for k, v in found.found.items()}, "missing": found.missing})
    return 0 if found.complete else 1
