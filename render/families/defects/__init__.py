"""Defective-product family for quality control: parametric products and user meshes
with defects (``config.py``, ``sampler.py``, geometry in ``products.py``,
``surface.py``, ``assemblies.py``, ``props.py``)."""
