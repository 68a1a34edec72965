"""Training inside the app: the Data, Training, Plots and Results docks and the Train menu.

``install_training_ui(window)`` adds them to a main window that has a ``qt_doc`` (QtDocument). Training runs on a
worker thread that consumes the core's event generator (`netbuilder.train.Trainer.events`); everything Qt stays
on the GUI thread.
"""

from netbuilder_ui.training._guard import keep_gui_thread_light

keep_gui_thread_light()  # PyTorch single-threaded on the GUI thread, full width on the training thread

from netbuilder_ui.training.controller import TrainingUI, default_run_root, install_training_ui  # noqa: E402

__all__ = ["TrainingUI", "default_run_root", "install_training_ui"]
