"""NetBuilder core: design, analyse, compile, train and export neural networks. Imports no Qt."""

__version__ = "0.1.0"
