"""Exchange with other SNN tools. :mod:`.nir` converts NIR graphs (the Neuromorphic
Intermediate Representation, the optional ``nir`` package) to and from weight files;
:mod:`.nireval` evaluates a NIR graph in float64 as the reference a conversion is
measured against. ``docs/interop.md`` documents both."""
