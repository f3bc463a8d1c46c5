"""Registers the object-centric synthetic kinds: CO3D-like sequences, D-NeRF-like animations, the shape family,
NeRF-synthetic-like composite objects."""

from __future__ import annotations


def register_object_kinds() -> None:
    """Register ``co3dv2``, ``dnerf``, ``nvidia_dynamic``, ``shapes``, ``blender_objects`` (`synthetic.KINDS`)."""
    from common.data.synthetic import Kind, register
    from common.data.synthetic.shapes import write_shapes
    from common.data.synthetic.write_blender_objects import write_blender_objects
    from common.data.synthetic.write_co3d import write_co3d
    from common.data.synthetic.write_dnerf import write_dnerf
    from common.data.synthetic.write_nvidia_dynamic import write_nvidia_dynamic

    register(
        "co3dv2",
        Kind(write_co3d, "co3dv2", 10, 128, 40, "CO3D-like object sequences (3 per category), CO3Dv2 layout"),
    )
    register("dnerf", Kind(write_dnerf, "dnerf", 4, 128, 50, "D-NeRF-like animated objects, D-NeRF Blender layout"))
    register(
        "nvidia_dynamic",
        Kind(
            write_nvidia_dynamic,
            "nvidia_dynamic",
            1,
            96,
            12,
            "a dynamic scene filmed by a moving monocular camera, DynamicNeRF's NVIDIA Dynamic Scenes layout "
            "with GROUND-TRUTH depth / flow / motion-mask priors (MiDaS/RAFT substitutes)",
        ),
    )
    register(
        "shapes",
        Kind(
            write_shapes,
            "blender",
            8,
            64,
            24,
            "deformable shape family with per-vertex correspondences (correspondence.npz), Blender layout",
        ),
    )
    register(
        "blender_objects",
        Kind(
            write_blender_objects,
            "blender",
            4,
            100,
            100,
            "lego-like textured composite objects, NeRF-synthetic layout (90 train / 10 test views at 100 frames)",
        ),
    )
