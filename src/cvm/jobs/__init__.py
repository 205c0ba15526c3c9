"""Jobs that compose several stages, for the engine's main job (``cvm run``)."""
