"""The README's Python examples run as written (in a scratch folder): documentation that drifts from the API is a
defect a user meets first."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code = BLOCKS[index].replace("config.epochs = 5", "config.epochs = 1")  # the same code, one epoch
    exec(compile(code, f"README.md python block {index + 1}", "exec"), {"__name__": "readme"})  # noqa: S102
    printed = capsys.readouterr().out
    assert printed.strip(), "every example prints what it shows"
    assert "Traceback" not in printed
