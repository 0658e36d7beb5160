"""cnnconv.io.atomic: complete outputs or none, and never an input overwritten."""

from __future__ import annotations

import errno
import os

import pytest

from cnnconv.errors import CnnconvError
from cnnconv.io import atomic


def test_write_then_rename_with_ordinary_permissions(tmp_path):
    target = tmp_path / "out.png"
    atomic.write_bytes_atomic(target, b"abc")
    assert target.read_bytes() == b"abc"
    assert os.listdir(tmp_path) == ["out.png"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_full_disk_leaves_no_partial_file_and_keeps_the_old_output(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"previous")

    def write(f):
        f.write(b"half of it")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(CnnconvError, match="out.png: cannot write: [Nn]o space left on device"):
        atomic.write_atomic(target, write)
    assert os.listdir(tmp_path) == ["out.png"] and target.read_bytes() == b"previous"


def test_enospc_on_flush_via_monkeypatched_fsync(tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(CnnconvError, match="[Nn]o space left"):
        atomic.write_bytes_atomic(tmp_path / "a.npy", b"x" * 1000)
    assert os.listdir(tmp_path) == []


def test_any_exception_in_the_writer_removes_the_temporary_file(tmp_path):
    def write(f):
        f.write(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.write_atomic(tmp_path / "o.txt", write)
    assert os.listdir(tmp_path) == []


def test_missing_directory_and_directory_target(tmp_path):
    with pytest.raises(CnnconvError, match="does not exist"):
        atomic.write_bytes_atomic(tmp_path / "no" / "o.png", b"")
    with pytest.raises(CnnconvError, match="is a directory"):
        atomic.write_bytes_atomic(tmp_path, b"")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(CnnconvError, match="cannot write here"):
            atomic.write_bytes_atomic(locked / "o.png", b"")
    finally:
        locked.chmod(0o700)


def test_output_equal_to_an_input_is_refused_through_symlinks(tmp_path, monkeypatch):
    source = tmp_path / "in.png"
    source.write_bytes(b"keep me")
    link = tmp_path / "link.png"
    link.symlink_to(source)
    monkeypatch.chdir(tmp_path)
    for output in ("in.png", str(source), "./sub/../in.png", str(link)):
        with pytest.raises(CnnconvError, match="is this input file"):
            atomic.refuse_overwriting_inputs(output, [str(source)])
    atomic.refuse_overwriting_inputs("other.png", [str(source), "-"])
    atomic.refuse_overwriting_inputs("-", [str(source)])
    assert source.read_bytes() == b"keep me"


def test_same_file_for_paths_that_do_not_exist_yet(tmp_path):
    assert atomic.same_file(tmp_path / "a" / ".." / "x", tmp_path / "x")
    assert not atomic.same_file(tmp_path / "x", tmp_path / "y")


def test_input_files_finds_an_input_by_any_path_to_it(tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(b"1")
    second.write_bytes(b"2")
    (tmp_path / "link.png").symlink_to(second)
    guard = atomic.InputFiles([str(first), str(second), "-"])
    assert guard.find(tmp_path / "link.png") == str(second)
    assert guard.find(tmp_path / "sub" / ".." / "a.png") == str(first)
    assert guard.find(tmp_path / "new.png") is None
    assert guard.find("-") is None


def test_batch_output_naming_another_input_says_which(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from cnnconv.cli import cli

    for name in ("a.png", "a-box3.png"):
        Image.new("L", (8, 8), 7).save(tmp_path / name)
    result = CliRunner().invoke(cli, ["filter", str(tmp_path / "a.png"), str(tmp_path / "a-box3.png"),
                                      "-k", "box3", "--out-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"the output {tmp_path / 'a-box3.png'} is the input file {tmp_path / 'a-box3.png'}" in result.stderr


def _store(path, content: bytes):
    path.mkdir()
    (path / "meta").write_bytes(content)


def _is_store(path):
    return (path / "meta").exists()


def test_a_directory_output_that_fails_half_way_keeps_the_old_one_and_leaves_no_temporary(tmp_path):
    _store(tmp_path / "out.store", b"old")

    def fill(directory):
        (tmp_path / directory / "meta").write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(CnnconvError, match="out.store: cannot write: "):
        atomic.write_directory_atomic(tmp_path / "out.store", fill, kind="store", is_replaceable=_is_store)
    assert os.listdir(tmp_path) == ["out.store"]
    assert (tmp_path / "out.store" / "meta").read_bytes() == b"old"


def test_a_deferred_directory_output_is_put_in_place_by_commit(tmp_path):
    _store(tmp_path / "out.store", b"old")
    with atomic.deferring_renames() as pending:
        atomic.write_directory_atomic(tmp_path / "out.store", lambda d: (tmp_path / d / "meta").write_bytes(b"new"),
                                      kind="store", is_replaceable=_is_store)
    assert (tmp_path / "out.store" / "meta").read_bytes() == b"old"
    atomic.commit(pending)
    assert os.listdir(tmp_path) == ["out.store"]
    assert (tmp_path / "out.store" / "meta").read_bytes() == b"new"


def test_stale_and_own_temporary_directories_are_removed_like_files(tmp_path):
    stale = tmp_path / ".out.zarr.cnnconv-999999999-abc.part"
    own = tmp_path / f".o.zarr.cnnconv-{os.getpid()}-abc.part"
    for d in (stale, own):
        _store(d, b"half")
    assert atomic.remove_stale_temporaries(tmp_path) == [str(stale)]
    assert os.listdir(tmp_path) == [own.name]
    atomic.remove_own_temporaries([tmp_path])
    assert os.listdir(tmp_path) == []
