"""Shared test set-up: Qt always runs headless, and tests never write outside tmp folders."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NETBUILDER_NO_GPU_WARNINGS", "1")
