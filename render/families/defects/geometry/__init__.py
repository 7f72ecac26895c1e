"""The defects family's geometry, as data (pure numpy: vertex and face arrays):
parametric products (``products``, ``turned``), defects carved or laid onto them
(``surface``, ``grooves``, ``cuts``, ``chips``, ``films``, ``edges``), nuisances,
printed marks (``glyphs``), background props, and the generators the Blender
backend calls (``assemblies``, in the order of ``steps``)."""
