"""Figures a tracked cell displays become PNG artifacts, taken from the display output.

In IPython's in-process shell (no kernel: its publisher is wrapped for the run) and in a real kernel with
matplotlib's inline backend (ipykernel's publisher hook; figures flushed after the cell body's code)."""

from __future__ import annotations

import base64
import io
import textwrap

import pytest

import nbtrack
from nbtrack.capture.figures import PNG_SIGNATURE, png_bytes
from nbtrack.errors import NbtrackWarning


def png(color: str) -> bytes:
    import matplotlib

    matplotlib.use("agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], color=color)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def test_png_bytes_reads_raw_and_base64_payloads():
    image = png("red")
    assert png_bytes(image) == image
    assert png_bytes(base64.b64encode(image).decode()) == image
    assert png_bytes(base64.b64encode(image)) == image
    assert png_bytes("not base64 at all!") is None and png_bytes(b"GIF89a") is None and png_bytes(3) is None


def only(items):
    assert len(items) == 1, items
    return items[0]


def latest(ip):
    runs = nbtrack.runs()
    return nbtrack.get_run(runs["run_id"].iloc[0])


def test_displayed_images_are_kept_once_each_and_the_publisher_is_restored(ip):
    red, blue = png("red"), png("blue")
    ip.user_ns.update(red=red, blue=blue)
    publisher = ip.display_pub
    assert "publish" not in vars(publisher)
    result = ip.run_cell(
        textwrap.dedent("""\
        %%track -q
        from IPython.display import display, Image
        display({"image/png": red, "text/plain": "red"}, raw=True)
        display(Image(data=blue, format="png"))
        display({"image/png": red}, raw=True)
        display({"text/plain": "no image"}, raw=True)
        """)
    )
    assert result.success
    assert "publish" not in vars(publisher)  # the shell's own method again
    run = latest(ip)
    assert sorted(run.artifacts) == ["figure-1.png", "figure-2.png"]
    assert run.store.get_blob(run.artifacts["figure-1.png"]["blob"]) == red
    assert run.store.get_blob(run.artifacts["figure-2.png"]["blob"]) == blue
    assert run.artifacts["figure-1.png"] == {
        "blob": run.artifacts["figure-1.png"]["blob"],
        "size": len(red),
        "media_type": "image/png",
        "kind": "figure",
    }
    ip.run_cell("from IPython.display import display\ndisplay({'image/png': red}, raw=True)")  # untracked
    assert len(nbtrack.runs()) == 1


def test_a_live_plot_keeps_what_the_output_shows_at_the_end(ip, monkeypatch):
    monkeypatch.setenv("NBTRACK_MAX_FIGURES", "2")  # 30 frames, yet no warning: only the last ones are shown
    frames = [png(color) for color in ("red", "green", "blue", "black")]
    ip.user_ns.update(frames=frames)
    ip.run_cell(
        textwrap.dedent("""\
        %%track -q
        from IPython.display import clear_output, display
        for i in range(30):
            clear_output(wait=True)
            display({"image/png": frames[i % 3]}, raw=True)
        handle = display({"image/png": frames[0]}, raw=True, display_id="live")
        handle.update({"image/png": frames[3]}, raw=True)
        """)
    )
    run = latest(ip)
    kept = [run.store.get_blob(run.artifacts[f"figure-{i}.png"]["blob"]) for i in (1, 2)]
    assert kept == [frames[29 % 3], frames[3]] and len(run.artifacts) == 2


def test_figure_limit_is_said_once(ip, monkeypatch):
    monkeypatch.setenv("NBTRACK_MAX_FIGURES", "1")
    ip.user_ns.update(red=png("red"), blue=png("blue"))
    with pytest.warns(NbtrackWarning, match="1 displayed figure.s. not kept.*NBTRACK_MAX_FIGURES"):
        ip.run_cell(
            "%%track -q\nfrom IPython.display import display\n"
            "display({'image/png': red}, raw=True)\ndisplay({'image/png': blue}, raw=True)"
        )
    assert list(latest(ip).artifacts) == ["figure-1.png"]


def test_figures_off_and_names_after_logged_artifacts(ip, monkeypatch):
    ip.user_ns.update(red=png("red"))
    ip.run_cell(
        "%%track -q\nfrom IPython.display import display\nimport nbtrack\n"
        "nbtrack.log_artifact(b'x', name='figure-1.png')\ndisplay({'image/png': red}, raw=True)"
    )
    assert sorted(latest(ip).artifacts) == ["figure-1.png", "figure-2.png"]
    monkeypatch.setenv("NBTRACK_MAX_FIGURES", "0")
    ip.run_cell("%%track -q\nfrom IPython.display import display\ndisplay({'image/png': red}, raw=True)")
    assert latest(ip).artifacts == {}


@pytest.mark.kernel
def test_inline_backend_figures_in_a_real_kernel(tmp_path):
    pytest.importorskip("ipykernel")
    from kernel_helpers import code, new_session

    cells = [
        code("%load_ext nbtrack\nimport nbtrack\nimport matplotlib.pyplot as plt\n%matplotlib inline"),
        # flushed by the inline backend after the cell body's code, still inside %%track
        code("%%track -n flushed -q\nplt.plot([1, 2, 3])"),
        code(
            "%%track -n shown -q\nplt.plot([3, 1]); plt.show()\n"
            "fig, ax = plt.subplots()\nax.bar([1], [2]); display(fig)"
        ),
        # a figure as the cell's last expression goes through the display hook
        code("%%track -n last -q\nfig2, ax2 = plt.subplots(); ax2.scatter([1], [1]); plt.close(fig2)\nfig2"),
        code("with nbtrack.track(name='block'):\n    plt.plot([0, 5]); plt.show()"),
        # a live-updating plot: only the last frame is the cell's output
        code(
            "%%track -n live -q\nfrom IPython.display import clear_output\nfor i in range(5):\n"
            "    clear_output(wait=True); plt.plot([0, i]); plt.show()"
        ),
        code("plt.plot([9, 9]); plt.show()"),  # untracked
    ]
    session = new_session(tmp_path, cells)
    try:
        nb = session.execute_all()
        shown = [o for o in nb.cells[2].outputs if o.output_type == "display_data" and "image/png" in o.data]
        assert len(shown) == 3  # the user still sees their figures: display(fig), then the inline flush shows it again
        expected = {"flushed": 1, "shown": 2, "last": 1, "block": 1, "live": 1}
        for name, count in expected.items():
            (run,) = session.run_named(name)
            figures = {k: v for k, v in run.artifacts.items() if v["kind"] == "figure"}
            assert sorted(figures) == [f"figure-{i}.png" for i in range(1, count + 1)], (name, run.artifacts)
            for record in figures.values():
                data = run.store.get_blob(record["blob"])
                assert data.startswith(PNG_SIGNATURE) and len(data) == record["size"] > 1000
        # what the user saw is what was kept: the same bytes as the notebook's output
        (run,) = session.run_named("shown")
        seen = list(dict.fromkeys(base64.b64decode(o.data["image/png"]) for o in shown))  # once each, in order
        kept = [run.store.get_blob(run.artifacts[f"figure-{i}.png"]["blob"]) for i in (1, 2)]
        assert kept == seen
        (live,) = session.run_named("live")
        last_frame = only([o for o in nb.cells[5].outputs if "image/png" in o.get("data", {})])
        assert live.store.get_blob(live.artifacts["figure-1.png"]["blob"]) == base64.b64decode(
            last_frame.data["image/png"]
        )
        assert len(session.all_runs()) == 5
    finally:
        session.close()
