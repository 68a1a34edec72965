"""The status bar's multiply-adds for a variable-length network: per token, not a useless 0 (issue 13, item 7)."""

from __future__ import annotations

from netbuilder.analysis.per_token import cost_at_length


def test_status_bar_shows_multiply_adds_per_token_for_a_language_model(main_window) -> None:
    main_window.open_template("char-gru", ask=False)
    network = main_window.qt_doc.document.network()
    assert main_window.qt_doc.analysis(network.name).total_macs == 0  # per sample the length is unknown
    cost = cost_at_length(network)
    assert cost is not None and cost.per_token > 0
    text = main_window.status_macs.text()
    assert text.endswith("per token") and text != "Multiply-adds  0"
    # An edit that changes the cost updates it.
    main_window.qt_doc.document.network().set_params("gru", hidden_size=64)
    main_window._update_status()
    assert main_window.status_macs.text() != text and main_window.status_macs.text().endswith("per token")
