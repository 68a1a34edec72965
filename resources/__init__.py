"""NetBuilder's bundled resources (templates, sample data), installed as the package ``netbuilder_resources``."""
