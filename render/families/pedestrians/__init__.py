"""Pedestrians family: people (anny bodies) in a procedural street; see docs/pedestrians.md."""
