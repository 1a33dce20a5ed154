"""Unit tests of the magic-to-Python translation of one cell."""

from __future__ import annotations

import ast

import pytest

from nbtrack.exporting.magics_to_python import translate
from nbtrack.exporting.requirements import pip_requirements

# magics -> plain Python ---------------------------------------------------------------------------------


def compiles(code: str) -> None:
    compile(code, "<cell>", "exec")
    assert "get_ipython" not in code


def test_common_magics_become_plain_python():
    t = translate("%load_ext nbtrack\n%matplotlib inline\n%time x = f(1)\n%env SEED=3\n%cd data\ny = 2")
    compiles(t.code)
    lines = t.code.splitlines()
    assert lines[0].startswith("# %load_ext nbtrack")
    assert lines[1].startswith('matplotlib.use("Agg")')
    assert lines[2] == "x = f(1)"
    assert lines[3] == "os.environ['SEED'] = '3'"
    assert lines[4] == "os.chdir(os.path.expanduser('data'))"
    assert t.helpers == {"matplotlib", "os"} and t.effects == {"env", "cwd"} and not t.problems


def test_cell_magics_time_track_capture_writefile_bash():
    t = translate("%%time\na = 1\n%time b = 2")
    assert t.code.splitlines() == ["a = 1", "b = 2"]
    t = translate("%%track -n x -m acc\nlr = 0.1\nacc = lr")
    assert t.track_line == "-n x -m acc" and t.code.splitlines() == ["lr = 0.1", "acc = lr"]
    assert translate("%%capture\nz = 3").code.strip() == "z = 3"
    t = translate("%%writefile -a notes.txt\nline one\nline two\n")
    compiles(t.code)
    assert "open('notes.txt', \"a\"" in t.code and '"""line one\nline two\n"""' in t.code
    t = translate("%%bash\necho hi > out.txt\n")
    compiles(t.code)
    assert t.code.startswith('subprocess.run(["bash", "-c", ') and "check=True" in t.code


def test_shell_escapes_become_subprocess_run_with_check():
    t = translate("!ls -l\nfiles = !ls\nif True:\n    !echo nested", known=set())
    compiles(t.code)
    assert "subprocess.run('ls -l', shell=True, check=True)" in t.code
    assert "files = subprocess.run('ls', shell=True, check=True, capture_output=True, text=True).stdout" in t.code
    assert "    subprocess.run('echo nested', shell=True, check=True)" in t.code


def test_shell_expansion_follows_ipython_only_for_defined_names():
    t = translate("!echo {n + 1} $name", known={"n", "name"})
    assert 'f"echo {n + 1} {name}"' in t.code
    assert "'echo $HOME'" in translate("!echo $HOME", known={"n"}).code  # IPython leaves it to the shell
    assert "'echo {missing}'" in translate("!echo {missing}", known=set()).code


def test_pip_installs_become_requirements_not_code():
    t = translate(
        "%pip install -q scikit-learn==1.5 pandas\n!pip install -U rich\n!{sys.executable} -m pip install tqdm"
    )
    assert t.requirements == ["scikit-learn==1.5", "pandas", "rich", "tqdm"]
    assert t.only_requirements
    assert "subprocess" not in t.code
    assert pip_requirements("install -r req.txt -e . numpy") == ["numpy"]
    assert pip_requirements("list") is None


def test_display_only_magics_and_help_are_no_ops_and_blocks_stay_valid():
    t = translate("np.mean?\n%who\nif True:\n    %lsmagic\n")
    compiles(t.code)
    assert "    pass  # %lsmagic" in t.code
    assert translate("%%html\n<b>x</b>").code.startswith("# %%html: nothing to do")


def test_untranslatable_magics_are_reported_with_their_line():
    t = translate("x = 1\n%store x\ny = %sql select 1\nget_ipython().user_ns['z'] = 1")
    lines = sorted((p.line, p.text) for p in t.problems)
    assert lines == [(2, "%store x"), (3, "%sql select 1"), (4, "get_ipython().user_ns['z'] = 1")]
    t = translate("%%time\nok = 1\n%store ok")
    assert [(p.line, p.text) for p in t.problems] == [(3, "%store ok")]
    assert translate("%%sql\nselect 1").problems[0].line == 1


def test_comments_and_layout_survive_translation():
    source = "# setup\nx = [\n    1,  # one\n    2,\n]\n%time y = sum(x)  # timed\ns = '''\n%not_a_magic\n'''"
    t = translate(source)
    assert t.code.startswith("# setup\nx = [\n    1,  # one\n")
    assert "%not_a_magic" in t.code
    assert ast.parse(t.code)


@pytest.mark.parametrize("source", ["x = = 1", "def f(:\n  pass"])
def test_invalid_python_has_no_code(source):
    assert translate(source).code is None
