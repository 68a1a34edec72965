"""Experiments over many runs: compare run folders, sweep hyper-parameters with Optuna, find a learning rate.

Qt-free. ``compare`` reads run folders only (no torch); ``space`` parses and applies a search space; ``sweep``
drives Optuna studies whose trials are ordinary run folders; ``lr_find`` runs the learning-rate range test.
"""
