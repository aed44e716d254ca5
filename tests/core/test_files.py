"""core/files.py: an output refused before any work says why; a file is written whole or not at all."""
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.files import atomic_write, atomic_write_text, current_umask, output_problem


def test_text_files_are_written_atomically_with_unique_temp_names(tmp_path):
    target = tmp_path / "encoder.json"
    atomic_write_text('{"good": 1}\n', target)

    def killed(handle):
        handle.write(b'{"ha')
        raise KeyboardInterrupt                       # a kill in the middle of the write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, killed)
    assert json.loads(target.read_text()) == {"good": 1} and sorted(p.name for p in tmp_path.iterdir()) == \
        ["encoder.json"]
    with ThreadPoolExecutor(8) as pool:               # many writers at once never collide on a temp name
        list(pool.map(lambda i: atomic_write_text(json.dumps({"i": i}), target), range(64)))
    assert "i" in json.loads(target.read_text()) and sorted(p.name for p in tmp_path.iterdir()) == ["encoder.json"]


def test_a_written_file_gets_the_mode_of_other_files_and_its_folders(tmp_path):
    target = tmp_path / "new" / "deeper" / "report.json"
    atomic_write_text("{}", target)
    assert target.read_text() == "{}" and os.stat(target).st_mode & 0o777 == 0o666 & ~current_umask()


def existing(tmp, name):
    (tmp / name).write_text("x")
    return tmp / name


@pytest.mark.parametrize("make, replace, makeFolders, says", [
    (lambda tmp: tmp, False, True, r"is a folder; give a file name"),
    (lambda tmp: existing(tmp, "old.json"), False, True, r"exists \(nothing is overwritten\)"),
    (lambda tmp: existing(tmp, "afile") / "out.png", False, True, r"afile is a file, not a folder"),
    (lambda tmp: tmp / "missing" / "out.json", False, False, r"the folder .*missing does not exist"),
])
def test_outputs_that_cannot_be_written_say_why(tmp_path, make, replace, makeFolders, says):
    problem = output_problem(make(tmp_path), replace=replace, makeFolders=makeFolders)
    assert problem is not None and re.search(says, problem), problem


def test_outputs_that_can_be_written(tmp_path):
    (tmp_path / "old.json").write_text("x")
    assert output_problem(tmp_path / "old.json", replace=True) is None
    assert output_problem(tmp_path / "new" / "deeper" / "out.json") is None        # folders will be made
    assert output_problem(tmp_path / "out.json", makeFolders=False) is None


def test_a_folder_or_file_this_user_cannot_write_is_named(tmp_path, monkeypatch):
    """(Simulated: as root every folder is writable.)"""
    (tmp_path / "old.json").write_text("x")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert output_problem(tmp_path / "new.json") == f"{tmp_path} is not writable"
    assert output_problem(tmp_path / "old.json", replace=True) == "is not writable"
