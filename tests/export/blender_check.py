"""Run under a Python that has ``bpy`` (Blender as a module): import a GLB with Blender's own
glTF importer and dump, per frame, every camera's ``matrix_world`` and vertical FOV, and
every mesh's world-space bounds. Usage: python blender_check.py IN.glb OUT.json FPS NUM_FRAMES"""
import json
import math
import sys

import bpy


def main(glb: str, out: str, fps: int, num_frames: int) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = fps
    scene.render.fps_base = 1.0
    bpy.ops.import_scene.gltf(filepath=glb)
    cams = [o for o in scene.objects if o.type == "CAMERA"]
    meshes = [o for o in scene.objects if o.type == "MESH"]
    frames = []
    for f in range(scene.frame_start - 2, scene.frame_start + num_frames + 2):
        scene.frame_set(f)
        cam = cams[0]
        data = cam.data
        aspect = scene.render.resolution_x / scene.render.resolution_y
        frames.append({"frame": f, "matrix_world": [list(r) for r in cam.matrix_world],
                       "angle_y": data.angle_y, "angle": data.angle, "sensor_fit": data.sensor_fit,
                       "lens": data.lens, "sensor_width": data.sensor_width, "sensor_height": data.sensor_height})
    bounds = []
    for m in meshes:
        pts = [m.matrix_world @ v.co for v in m.data.vertices]
        bounds.append({"min": [min(p[i] for p in pts) for i in range(3)],
                       "max": [max(p[i] for p in pts) for i in range(3)], "faces": len(m.data.polygons)})
    info = {"frame_start": scene.frame_start, "frame_end": scene.frame_end,
            "resolution": [scene.render.resolution_x, scene.render.resolution_y],
            "frames": frames, "meshes": bounds, "bpy": bpy.app.version_string}
    with open(out, "w") as fh:
        json.dump(info, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
