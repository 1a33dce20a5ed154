from nbtrack.capture.params import input_names, literal_params, parse


def params_of(source):
    return literal_params(parse(source))


def test_literal_assignments_become_params():
    source = "lr = 0.01; epochs = 20; seed = 0\nname = 'adam'\nflag = True\nnothing = None\nneg = -3\n"
    assert params_of(source) == {
        "lr": 0.01,
        "epochs": 20,
        "seed": 0,
        "name": "adam",
        "flag": True,
        "nothing": None,
        "neg": -3,
    }


def test_containers_and_unpacking():
    source = "layers = [64, 32]\ncfg = {'a': 1, 'b': (2, 3)}\nw, h = 3, 4\nx: int = 5\n"
    assert params_of(source) == {"layers": [64, 32], "cfg": {"a": 1, "b": (2, 3)}, "w": 3, "h": 4, "x": 5}


def test_non_literals_and_reassignments_are_not_params():
    source = "lr = 0.1\nlr = lr * 2\nmodel = fit()\nn = len(data)\nk = 3\nk += 1\nfor i in range(3): pass\ni = 0\n"
    assert params_of(source) == {"i": 0}


def test_nested_and_private_assignments_ignored():
    source = "def f():\n    inner = 1\nif True:\n    cond = 2\n_private = 3\nb = b'bytes'\ns = {1, 2}\n"
    assert params_of(source) == {}


def test_reassigned_by_import_or_def_drops_param():
    assert params_of("np = 1\nimport numpy as np\nf = 2\ndef f(): pass\n") == {}


def test_syntax_error_gives_no_params():
    assert params_of("lr = (") == {}


def test_inputs_include_nested_uses():
    assert input_names(parse("def f():\n    return df.x\ny = arr + 1\n")) >= {"df", "arr"}


def test_names_assigned_before_read_are_not_inputs():
    names = input_names(parse("feats = df[['a']] * 2\ntotal = feats.sum()\nx = x + 1\n"))
    assert "df" in names and "x" in names and "feats" not in names


def test_loop_comprehension_and_argument_names_are_not_inputs():
    source = (
        "for p in range(3):\n    q = p * 2\nlast = p\nsquares = [x * x for x in items]\n"
        "def f(frame):\n    return frame.sum() + scale\nwith open(path) as fh:\n    text = fh.read()\n"
    )
    assert input_names(parse(source)) == {"range", "items", "scale", "open", "path"}
