"""Safe with any file: names never become paths, document paths resolve beside the document, every read is bounded
and special files (devices, FIFOs, sockets, links to them) are refused at once with a message naming the path."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import struct
import threading
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from netbuilder.cli import main as cli_main
from netbuilder.data import DataError, load_data, preview
from netbuilder.document import Document
from netbuilder.fs import LIMITS, FileRefused, read_limited, resolve_document_path, safe_file_name
from netbuilder.io import LoadError, load_document, load_weights, save_document
from netbuilder.train import Done, RunStarted, TrainConfig, Trainer, Warning, load_run
from netbuilder.train.paths import resolve_config_paths

HOSTILE_NAMES = ["../../../../escaped", "/abs/path", "a/b", "CON", "...", "x" * 500, "a\\b\x00c", "nul.txt"]


def finishes(function: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Run ``function`` in a thread; fail (instead of hanging the suite) if it has not returned in time."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = function()
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            result["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (blocked on a special file?)"
    if "error" in result:
        raise result["error"]
    return result.get("value")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- names ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*HOSTILE_NAMES, "", " ", "/", "..", "COM1", "LPT9.log", "ab\x7f\x1b[31m"])
def test_a_name_becomes_one_safe_file_name_component(name: str) -> None:
    safe = safe_file_name(name)
    assert safe and safe not in (".", "..") and not safe.startswith((".", " ", "-"))
    assert not any(c in safe for c in '/\\<>:"|?*') and all(ord(c) >= 32 and c != "\x7f" for c in safe)
    assert len(safe.encode("utf-8")) <= 100
    assert safe.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT9"}
    assert Path(safe).name == safe  # exactly one component


def test_safe_names_stay_readable() -> None:
    assert safe_file_name("my network") == "my network"
    assert safe_file_name("a/b") == "a-b"
    assert safe_file_name("../../../../escaped") == "escaped"
    assert safe_file_name("CON") == "CON_" and safe_file_name("con.txt") == "con_.txt"
    assert safe_file_name("Ünïcode-net") == "Ünïcode-net"
    assert safe_file_name("") == "network" and safe_file_name("", fallback="run") == "run"
    assert safe_file_name("é" * 300).encode() == ("é" * 50).encode()  # cut at a character boundary


def _net(name: str, inputs: tuple[int, ...] = (64,), classes: int = 10) -> Document:
    doc = Document(network_names=(name,))
    net = doc.network()
    layers = [net.add("Input", name="pixels", shape=inputs)]
    if len(inputs) > 1:
        layers.append(net.add("Flatten"))
    layers += [net.add("Linear", name="classes", units=classes), net.add("Output", name="digit")]
    net.chain(*layers)
    return doc


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", ["../../../../escaped", "/abs/path", "a/b", "CON", "x" * 500])
def test_training_writes_only_inside_its_run_folder_whatever_the_network_is_called(tmp_path: Path,
                                                                                   name: str) -> None:
    root = tmp_path / "a" / "b" / "runs"  # deep enough that "../../../.." from weights/ lands inside tmp_path
    config = TrainConfig.from_dict({"seed": 0, "device": "cpu", "epochs": 1, "name": name}, {"source": "iris"})
    events = list(Trainer(_net(name, (4,), 3), config, run_root=root).events())
    done = events[-1]
    assert isinstance(done, Done), events[-1]
    run_dir = Path(done.run_dir)
    assert run_dir.parent == root
    assert all(run_dir in file.parents for file in _files(tmp_path)), sorted(map(str, _files(tmp_path)))
    assert not Path("/abs/path.safetensors").exists()
    weights = load_run(run_dir).weights()
    assert list(weights) == [name]  # read back under the network's own name (from the file's metadata)


def test_two_networks_whose_names_clean_up_alike_keep_separate_weights_files(tmp_path: Path) -> None:
    from netbuilder.train.runs import RunWriter

    writer = RunWriter(tmp_path)
    paths = writer.save_weights({"a/b": torch.nn.Linear(2, 2), "a-b": torch.nn.Linear(3, 3)}, {})
    assert sorted(Path(p).name for p in paths.values()) == ["a-b-2.safetensors", "a-b.safetensors"]


def test_export_writes_one_file_per_network_inside_the_output_folder(tmp_path: Path, capsys) -> None:
    doc = _net("../../escaped")
    second = doc.add_network("a/b")
    second.chain(second.add("Input", shape=(4,)), second.add("Linear", units=2), second.add("Output"))
    file = tmp_path / "docs" / "two.nbg"
    file.parent.mkdir()
    save_document(doc, file)
    out = tmp_path / "out" / "model.py"
    out.parent.mkdir()
    code = cli_main(["export", str(file), "--pytorch", str(out)])
    assert code == 0, capsys.readouterr()
    assert sorted(p.name for p in out.parent.iterdir()) == ["model-a-b.py", "model-escaped.py"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in _files(tmp_path)) == [
        "docs/two.nbg", "out/model-a-b.py", "out/model-escaped.py"]


# ---- paths beside the document -------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_folder_given() -> None:
    folder = Path("/projects/x")
    assert resolve_document_path("data/t.csv", folder) == Path("/projects/x/data/t.csv")
    assert resolve_document_path("../shared/t.csv", folder) == Path("/projects/shared/t.csv")  # the user's choice
    assert resolve_document_path("/abs/t.csv", folder) == Path("/abs/t.csv")
    assert resolve_document_path("~/t.csv", folder) == Path.home() / "t.csv"
    assert resolve_document_path("t.csv", None) == Path.cwd() / "t.csv"


def test_config_paths_resolve_and_bundled_ids_stay() -> None:
    config = TrainConfig.from_dict({"transfer": {"source": "runs/old"}},
                                   {"source": "x-images-idx3-ubyte", "labels": "x-labels-idx1-ubyte"})
    resolved = resolve_config_paths(config, Path("/projects/x"))
    assert resolved.data.source == "/projects/x/x-images-idx3-ubyte"
    assert resolved.data.options["labels"] == "/projects/x/x-labels-idx1-ubyte"
    assert resolved.transfer.source == "/projects/x/runs/old"
    assert resolve_config_paths(TrainConfig.from_dict({}, {"source": "digits"}), Path("/p")).data.source == "digits"


def test_a_documents_data_path_means_the_file_beside_it_not_the_current_directory(tmp_path: Path, capsys,
                                                                                    monkeypatch) -> None:
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    rows = ["a,b,c,d,kind"] + [f"{i % 3},{i % 5},{i % 7},{i % 2},{i % 3}" for i in range(60)]
    (folder / "data" / "table.csv").write_text("\n".join(rows) + "\n")
    doc = _net("model", (4,), 3)
    doc.settings = {"data": {"source": "data/table.csv"}, "training": {"epochs": 1, "device": "cpu"}}
    save_document(doc, folder / "net.nbg")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_document(folder / "net.nbg").path == str(folder / "net.nbg")
    code = cli_main(["train", str(folder / "net.nbg"), "--runs", str(tmp_path / "runs")])
    out = capsys.readouterr()
    assert code == 0, out
    assert f"Data: {folder / 'data' / 'table.csv'}" in out.err  # the resolved path is shown
    record = json.loads(next((tmp_path / "runs").glob("*/config.json")).read_text())
    assert record["config"]["data"]["source"] == str(folder / "data" / "table.csv")


# ---- special files and size limits ---------------------------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    return path


def test_a_document_that_is_a_device_a_fifo_or_a_link_to_one_is_refused_at_once(tmp_path: Path, fifo: Path) -> None:
    link = tmp_path / "zero.nbg"
    link.symlink_to("/dev/zero")
    for path, words in ((Path("/dev/zero"), "character device"), (fifo, "named pipe"), (link, "link to /dev/zero")):
        with pytest.raises(LoadError) as error:
            finishes(lambda p=path: load_document(p), 5)
        assert str(path) in str(error.value) and words in str(error.value)


def test_a_document_over_the_limit_is_refused_with_the_limit_and_how_to_raise_it(tmp_path: Path,
                                                                                 monkeypatch) -> None:
    file = tmp_path / "big.nbg"
    save_document(_net("model"), file)
    monkeypatch.setitem(LIMITS, "document", 100)
    with pytest.raises(LoadError, match="at most 100 bytes.*NETBUILDER_LIMIT_DOCUMENT_MB"):
        load_document(file)
    monkeypatch.setenv("NETBUILDER_LIMIT_DOCUMENT_MB", "1")
    assert load_document(file).network().name == "model"


@pytest.mark.parametrize("fmt", ["csv", "text", "npy", "npz", "idx"])
def test_every_data_format_refuses_devices_fifos_and_links_to_them(tmp_path: Path, fifo: Path, fmt: str) -> None:
    link = tmp_path / "zero.data"
    link.symlink_to("/dev/zero")
    for path in (Path("/dev/zero"), fifo, link):
        with pytest.raises(DataError, match="not a regular file") as error:
            finishes(lambda p=path: load_data({"path": str(p), "format": fmt}), 5)
        assert str(path) in str(error.value)


def test_a_socket_is_named_as_one(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "s.csv"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(DataError, match=f"{path} is a socket, not a regular file"):
            load_data(str(path))
    finally:
        server.close()


def test_weights_from_a_fifo_or_over_the_limit_are_refused(tmp_path: Path, fifo: Path, monkeypatch) -> None:
    with pytest.raises(LoadError, match="named pipe"):
        finishes(lambda: load_weights(fifo), 5)
    from netbuilder.io import save_weights

    save_weights(torch.nn.Linear(64, 64), tmp_path / "w.safetensors")
    monkeypatch.setitem(LIMITS, "weights", 1000)
    with pytest.raises(LoadError, match="at most 1000 bytes"):
        load_weights(tmp_path / "w.safetensors")


def test_an_oversize_csv_is_refused_naming_the_file_and_the_limit(tmp_path: Path, monkeypatch) -> None:
    table = tmp_path / "table.csv"
    table.write_text("a,b\n" + "".join(f"{i},{i % 2}\n" for i in range(300)))
    monkeypatch.setitem(LIMITS, "table", 1000)
    with pytest.raises(DataError) as error:
        load_data(str(table))
    assert str(table) in str(error.value) and "1.7 kB" in str(error.value) and "1000 bytes" in str(error.value)
    monkeypatch.setitem(LIMITS, "table", 4000)
    assert len(load_data(str(table))) == 300


def _peak_bytes(function: Callable[[], Any]) -> int:
    tracemalloc.start()
    with contextlib.suppress(DataError):
        function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def _gzip_stream(parts: list[bytes], repeat: bytes = b"", times: int = 0) -> bytes:
    pack = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = b"".join(pack.compress(p) for p in parts)
    data += b"".join(pack.compress(repeat) for _ in range(times))
    return data + pack.flush()


def test_a_gzip_bomb_idx_is_refused_without_inflating_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(LIMITS, "idx", 1 * 1024 * 1024)
    block = bytes(1024 * 1024)
    claims_big = tmp_path / "big-images-idx3-ubyte.gz"  # declares 64 MB of pixels and holds them
    claims_big.write_bytes(_gzip_stream([bytes([0, 0, 8, 3]) + struct.pack(">3I", 1000, 256, 256)], block, 64))
    lies = tmp_path / "lie-images-idx3-ubyte.gz"  # declares 10 images of 10×10 but inflates to 64 MB
    lies.write_bytes(_gzip_stream([bytes([0, 0, 8, 3]) + struct.pack(">3I", 10, 10, 10)], block, 64))
    plain = tmp_path / "bomb.csv.gz"  # not IDX at all: the table limit caps the inflation
    plain.write_bytes(_gzip_stream([b"a,b\n"], b"1,2\n" * 262_144, 64))
    assert max(p.stat().st_size for p in (claims_big, lies, plain)) < 300_000
    with pytest.raises(DataError, match=r"declares 1000×256×256 values \(6\d MB\).*at most 1 MB"):
        load_data(str(claims_big))
    with pytest.raises(DataError, match="more data than its header declares"):
        load_data(str(lies))
    monkeypatch.setitem(LIMITS, "table", 1024 * 1024)
    with pytest.raises(DataError, match="inflates to more than 1 MB"):
        load_data(str(plain))
    for path in (claims_big, lies, plain):  # never more than a few MB in memory, although each inflates to 64 MB
        assert _peak_bytes(lambda p=path: load_data(str(p))) < 8 * 1024 * 1024


def test_a_gzip_idx_within_the_limit_still_loads(tmp_path: Path) -> None:
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    path = tmp_path / "ok-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 4, 4) + images.tobytes()))
    assert load_data(str(path)).x.shape == (2, 1, 4, 4)


def test_arrays_declaring_or_inflating_past_the_limit_are_refused(tmp_path: Path, monkeypatch) -> None:
    from numpy.lib import format as npy_format

    header = tmp_path / "huge.npy"  # a few bytes that declare a terabyte
    with open(header, "wb") as stream:
        npy_format.write_array_header_1_0(stream, {"descr": "<f8", "fortran_order": False,
                                                   "shape": (10**11, 16)})
        stream.write(bytes(64))
    with pytest.raises(DataError, match="declares 12 TB of values.*at most 8 GB"):
        load_data(str(header))
    monkeypatch.setitem(LIMITS, "array", 1024 * 1024)
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, x=np.zeros((1024, 1024), np.float32), y=np.zeros(1024, np.int64))
    assert packed.stat().st_size < 100_000
    with pytest.raises(DataError, match="'x' in packed.npz inflates to 4.0 MB.*at most 1 MB"):
        load_data(str(packed))


def test_read_limited_stops_a_file_without_a_size_at_the_limit() -> None:
    # /proc files say they are 0 bytes long; the read must still stop at the limit.
    with pytest.raises(FileRefused, match="holds more than 100 bytes"):
        read_limited("/proc/self/maps", "text", limit=100)
    assert read_limited("/proc/self/stat", "text")


# ---- image folders -------------------------------------------------------------------------------------------------


def _image_folder(root: Path, corrupt: int = 2) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / name / f"{i}.png")
    for i in range(corrupt):
        (root / "cats" / f"broken{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    return root


def test_unreadable_images_are_counted_and_named_in_the_preview_and_in_training(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path / "pictures")
    data = load_data(str(folder))
    message = preview(data, 4).warnings
    assert message == ["2 image files could not be read and were skipped: cats/broken0.png, cats/broken1.png. "
                       "Replace or remove them to use every image."]
    config = TrainConfig.from_dict({"device": "cpu", "epochs": 1, "batch_size": 4},
                                   {"source": str(folder), "normalize": False, "num_workers": 0})
    events = list(Trainer(_net("model", (1, 8, 8), 2), config, write=False).events())
    assert isinstance(events[-1], Done), events[-1]
    warnings = [e.message for e in events if isinstance(e, Warning)]
    assert message[0] in warnings
    assert events.index(next(e for e in events if isinstance(e, Warning) and e.message == message[0])) \
        > events.index(next(e for e in events if isinstance(e, RunStarted)))


def test_many_skipped_images_are_named_up_to_three_then_counted(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path / "pictures", corrupt=5)
    assert preview(load_data(str(folder)), 1).warnings[0].startswith(
        "5 image files could not be read and were skipped: cats/broken0.png, cats/broken1.png, cats/broken2.png "
        "and 2 more.")


def test_an_image_folder_ignores_special_files_and_names_oversize_ones(tmp_path: Path, monkeypatch) -> None:
    folder = _image_folder(tmp_path / "pictures", corrupt=0)
    os.mkfifo(folder / "dogs" / "pipe.png")
    (folder / "dogs" / "zero.png").symlink_to("/dev/zero")
    big = folder / "cats" / "big.png"
    big.write_bytes(bytes(5000))
    monkeypatch.setitem(LIMITS, "image", 4000)
    data = finishes(lambda: load_data(str(folder)), 10)
    assert len(data) == 12
    assert data.warnings == ["Skipped cats/big.png: 4.9 kB, over the 3.9 kB limit for one image."]
    monkeypatch.setitem(LIMITS, "image_folder", 1000)
    with pytest.raises(DataError, match="holds more than 1000 bytes of images"):
        load_data(str(folder))


def test_opening_a_document_reads_nothing_of_its_data(tmp_path: Path, fifo: Path, capsys) -> None:
    doc = _net("model")
    doc.settings = {"data": {"source": str(fifo), "format": "csv"}}
    file = tmp_path / "net.nbg"
    save_document(doc, file)
    for command in ("validate", "summary"):  # a read of the FIFO would block here
        assert finishes(lambda c=command: cli_main([c, str(file)]), 20) == 0
    capsys.readouterr()


def test_an_oversize_preprocessing_file_is_refused_with_its_path(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from netbuilder.data.preprocess import (
        PREPROCESSING_FILE,
        Preprocessing,
        PreprocessingError,
        load_preprocessing,
    )

    (tmp_path / PREPROCESSING_FILE).write_text(json.dumps(Preprocessing(units="x" * 4096).to_dict()))
    assert load_preprocessing(tmp_path) is not None  # a valid file: only its size is wrong
    monkeypatch.setitem(LIMITS, "document", 1024)
    with pytest.raises(PreprocessingError, match=PREPROCESSING_FILE):
        load_preprocessing(tmp_path)
