"""Task regions: moved between copies, and a broken region kept to its own task."""
import importlib
import sys
import textwrap

import pytest

from core.course import task_regions
from core.course.task_regions import TaskSourceError, guard_source, replace_regions, run_region

FILE = textwrap.dedent('''\
    import math


    class Model:
        def build(self):
            # --- Task 2 begin: the encoder ---
            self.encoder = math.sqrt(self.size)
            # --- Task 2 end ---
            # --- Task 3 begin: the head ---
            self.head = self.size + 1
            # --- Task 3 end ---
            return self
    ''')


def test_replace_regions_takes_only_the_lines_between_the_markers():
    submitted = FILE.replace("import math", "import os  # outside: ignored").replace(
        "self.head = self.size + 1", "self.head = 42")
    merged = replace_regions(submitted, FILE.replace("self.encoder = math.sqrt(self.size)", "pass"))
    assert "import math" in merged and "import os" not in merged
    assert "self.head = 42" in merged and "math.sqrt" in merged
    onlyThree = replace_regions(submitted, FILE.replace("self.encoder = math.sqrt(self.size)", "pass"), tasks=[3])
    assert "self.head = 42" in onlyThree and "math.sqrt" not in onlyThree


@pytest.mark.parametrize("broken, match", [
    (FILE.replace("        # --- Task 3 end ---\n", ""), "Task 3 region is never closed"),
    (FILE.replace("# --- Task 2 end ---", "# --- Task 3 end ---", 1), "without its begin marker"),
    (FILE.replace("Task 3 begin", "Task 4 begin").replace("Task 3 end", "Task 4 end"),
     r"expected the task regions \[2, 3\] .* found \[2, 4\]"),
])
def test_changed_markers_are_named(broken, match):
    with pytest.raises(ValueError, match=match):
        replace_regions(broken, FILE, "model.py")


@pytest.mark.parametrize("begin, end", [
    ("# --- Task 3 begin ---", "# --- Task 3 end ---"),               # the form without a title
    ("#--- task 3 BEGIN: the head", "#--- Task 3 End"),                # spacing, dashes and case retyped
    ("# -- Task 3 begin: the head --", "# -- Task 3 end --"),
])
def test_markers_a_student_plausibly_retypes_are_read(begin, end):
    retyped = FILE.replace("# --- Task 3 begin: the head ---", begin).replace("# --- Task 3 end ---", end)
    assert "self.head = 42" in replace_regions(retyped.replace("self.head = self.size + 1", "self.head = 42"), FILE)


def test_a_marker_the_grader_cannot_read_is_refused_with_the_exact_form():
    broken = FILE.replace("# --- Task 3 begin: the head ---", "# Task 3 starts here")
    with pytest.raises(ValueError, match=r"'# --- Task 3 begin: \.\.\. ---' and '# --- Task 3 end ---'"):
        replace_regions(broken, FILE, "model.py")


def load(tmp_path, text, name):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    loader = task_regions.RegionSafeLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_a_syntax_error_in_one_region_fails_that_region_only(tmp_path):
    text = FILE.replace("self.head = self.size + 1", "self.head = (self.size + 1")
    guarded, messages = guard_source(text, "model.py")
    assert len(messages) == 1 and messages[0].startswith("Task 3: your code does not compile: SyntaxError in "
                                                         "model.py, line 10")
    assert len(guarded.splitlines()) == len(text.splitlines())       # line numbers kept
    module = load(tmp_path, text, "guarded_model")
    model = module.Model()
    model.size = 4
    run_region(model, 2)
    assert model.encoder == 2.0                                      # Task 2 still runs
    with pytest.raises(TaskSourceError, match="Task 3: .*SyntaxError .*line 10"):
        run_region(model, 3)
    with pytest.raises(TaskSourceError, match="Task 3: "):
        model.build()


def test_an_emptied_region_counts_as_that_tasks_error():
    text = textwrap.dedent('''\
        class Loss:
            def forward(self):
                # --- Task 4 begin: the loss ---
                # --- Task 4 end ---

            def other(self):
                return 1
        ''')
    with pytest.raises(SyntaxError):
        compile(text, "loss.py", "exec")
    guarded, messages = guard_source(text, "loss.py")
    assert messages and messages[0].startswith("Task 4: your code does not compile")
    namespace = {task_regions.GUARD_NAME: TaskSourceError}       # what RegionSafeLoader gives a task module
    exec(compile(guarded, "loss.py", "exec"), namespace)
    assert namespace["Loss"]().other() == 1
    with pytest.raises(TaskSourceError, match="Task 4"):
        namespace["Loss"]().forward()


def test_a_syntax_error_outside_the_regions_is_not_hidden():
    with pytest.raises(SyntaxError):
        guard_source(FILE.replace("import math", "import math("), "model.py")


def test_run_region_needs_no_other_region(tmp_path):
    module = load(tmp_path, FILE.replace("self.encoder = math.sqrt(self.size)", "raise NameError('dropLayers')"),
                  "half_model")
    model = module.Model()
    model.size = 1
    assert run_region(model, 3)["self"] is model and model.head == 2
    with pytest.raises(NameError):
        run_region(model, 2)
    with pytest.raises(LookupError, match="no Task 4 region"):
        run_region(model, 4)
