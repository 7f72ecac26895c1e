"""Scene families: each turns its config section into SceneSpec objects (pure Python)."""
