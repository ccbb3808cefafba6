"""AnyRecon's generator on the user's Wan2.1-I2V-14B + LoRA files (see generator.py).

Importing this package needs only torch; diffusers and safetensors are imported when the
weights are loaded."""
from engine.generate.anyrecon.files import discover, expected_files, missing_files
from engine.generate.anyrecon.generator import (
    AnyReconGenerator,
    AnyReconOptions,
    flow_sigmas,
)

__all__ = ["AnyReconGenerator", "AnyReconOptions", "discover", "expected_files", "flow_sigmas", "missing_files"]
