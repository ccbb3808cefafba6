"""Run under a Python that has ``bpy``: import a camera-path GLB with Blender's glTF importer,
then write the scene again with Blender's own glTF exporter (cameras, sampled animation,
+Y up, the lens through KHR_animation_pointer where this Blender has it).
Usage: python blender_roundtrip.py IN.glb OUT.glb FPS NUM_FRAMES (the scene range: frames 0..N-1)"""
import os
import sys

import bpy


def main(src: str, dst: str, fps: int, num_frames: int) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = fps
    scene.render.fps_base = 1.0
    bpy.ops.import_scene.gltf(filepath=src)
    scene.frame_start, scene.frame_end = 0, num_frames - 1     # glTF time t is frame t * fps
    kwargs = dict(filepath=dst, export_format="GLB", export_cameras=True, export_animations=True,
                  export_yup=True, export_force_sampling=True, export_frame_range=False)
    props = bpy.ops.export_scene.gltf.get_rna_type().properties.keys()
    if "export_pointer_animation" in props:
        kwargs["export_pointer_animation"] = True
    if "export_animation_mode" in props:
        kwargs["export_animation_mode"] = "SCENE"
    bpy.ops.export_scene.gltf(**{k: v for k, v in kwargs.items() if k in props or k == "filepath"})
    print("bpy", bpy.app.version_string, "pointer" if "export_pointer_animation" in props else "no-pointer")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    sys.stdout.flush()
    os._exit(0)        # bpy 4.2 as a module can crash while the interpreter shuts down
