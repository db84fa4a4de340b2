"""Reading clouds and meshes, and the ``otlip mesh`` command."""

import numpy as np
import pytest
import trimesh

import otlip
from otlip.cli import main
from otlip.sdf_mesh import Sphere, load_mesh, load_point_cloud
from otlip.sdf_mesh._cli import _export

from .conftest import FAST


@pytest.fixture
def cloud():
    return Sphere().sample_surface(300, seed=0).astype(np.float64)


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".xyz", ".ply", ".obj", ".off"])
def test_round_trip_formats(tmp_path, cloud, suffix):
    path = tmp_path / f"cloud{suffix}"
    if suffix == ".npy":
        np.save(path, cloud)
    elif suffix == ".csv":
        np.savetxt(path, cloud, delimiter=",", header="x,y,z", comments="")
    elif suffix == ".xyz":
        np.savetxt(path, cloud)
    elif suffix == ".ply":
        trimesh.PointCloud(cloud).export(path)
    else:  # a mesh file: its vertices are the cloud
        m = trimesh.convex.convex_hull(cloud)
        m.export(path)
        cloud = np.asarray(m.vertices)
    got = load_point_cloud(path)
    assert got.shape == cloud.shape
    # Text formats round to ~1e-8 or better.
    np.testing.assert_allclose(np.sort(got, axis=0), np.sort(cloud, axis=0), atol=1e-6)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.ply"):
        load_point_cloud(tmp_path / "missing.ply")
    empty = tmp_path / "empty.ply"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_point_cloud(empty)
    junk = tmp_path / "junk.ply"
    junk.write_text("this is not a ply file\n")
    with pytest.raises(ValueError, match=r"junk\.ply"):
        load_point_cloud(junk)
    no_tri = tmp_path / "pts.ply"
    trimesh.PointCloud(np.eye(3)).export(no_tri)
    with pytest.raises(ValueError, match="no triangles"):
        load_mesh(no_tri)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((10, 2)))
    with pytest.raises(ValueError, match="d = 3"):
        load_point_cloud(flat)
    nan = tmp_path / "nan.csv"
    nan.write_text("1,2,3\nnan,0,0\n")
    with pytest.raises(ValueError, match="non-finite"):
        load_point_cloud(nan)


def test_export_is_atomic(tmp_path):
    mesh = Sphere().mesh()
    with pytest.raises(ValueError, match="unsupported"):
        _export(mesh, tmp_path / "out.foo")
    out = tmp_path / "out.ply"
    _export(mesh, out)
    assert load_mesh(out).is_watertight
    # Nothing but the final file is left in the directory (no temporary files).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ply"]


def test_cli_mesh(tmp_path, capsys):
    pts = Sphere().sample_surface(2048, seed=4)
    src = tmp_path / "ball.xyz"
    np.savetxt(src, pts)
    out = tmp_path / "ball.ply"
    png = tmp_path / "ball.png"
    hidden = ",".join(str(h) for h in FAST["hidden"])
    args = ["mesh", str(src), "-o", str(out), "--resolution", "64", "--preview", str(png)]
    args += ["--steps", str(FAST["steps"]), "--hidden", hidden, "--quiet"]
    args += ["--preset", "detail", "--outlier-radius", "0"]
    args += ["--model-out", str(tmp_path / "f.otlip")]
    assert main(args) == 0
    # the saved field is highest on the sampled sphere, far lower three radii out
    field = otlip.load(tmp_path / "f.otlip").score_samples
    assert field(pts).min() > field(np.array([[3.0, 3.0, 3.0]]))[0] + 1.0
    mesh = load_mesh(out)
    assert mesh.is_watertight
    # A unit ball: the mesh encloses 4/3 pi within 10 % at this coarse resolution.
    assert abs(mesh.volume / (4 / 3 * np.pi) - 1) < 0.1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "watertight=True" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys):
    assert main(["mesh", str(tmp_path / "none.xyz"), "-o", str(tmp_path / "o.ply")]) == 2
    assert "not found" in capsys.readouterr().err
    few = tmp_path / "few.npy"
    np.save(few, np.random.default_rng(0).normal(size=(5, 3)))
    assert main(["mesh", str(few), "-o", str(tmp_path / "o.ply")]) == 2
    assert "at least" in capsys.readouterr().err
    assert main(["mesh", str(few), "-o", str(tmp_path / "o")]) == 2
    assert main(["mesh", str(few), "-o", str(tmp_path / "o.ply"), "--outlier-radius", "-1"]) == 2
    assert "--outlier-radius" in capsys.readouterr().err
    assert main(["mesh", str(few), "-o", str(tmp_path / "o.ply"), "--hidden", "64,x"]) == 2
    assert "--hidden" in capsys.readouterr().err
    assert main(["mesh", str(few), "-o", str(tmp_path / "o.ply"), "--hidden", "64,0"]) == 2
    assert "positive" in capsys.readouterr().err
    assert main(["mesh", str(few), "-o", str(tmp_path / "o.ply"), "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    assert not (tmp_path / "o.ply").exists()


def test_cli_preset_choices_are_the_library_s():
    # The CLI spells its --preset choices out (its parser must not import jax); they
    # must stay those that reconstruct_with_details accepts.
    from otlip.cli import build_parser
    from otlip.sdf_mesh._reconstruct import PRESET_CHOICES

    parser = build_parser()
    mesh = parser._subparsers._group_actions[0].choices["mesh"]
    (preset,) = [a for a in mesh._actions if "--preset" in a.option_strings]
    assert sorted(preset.choices) == sorted(PRESET_CHOICES)


@pytest.mark.parametrize(("flags", "fairing"), [([], True), (["--no-fairing"], False)])
def test_cli_passes_the_fairing_switch(tmp_path, monkeypatch, flags, fairing):
    import otlip.sdf_mesh._reconstruct as reconstruct

    seen = {}

    def record(points, **kwargs):
        seen.update(kwargs)
        raise ValueError("recorded")  # the CLI reports it and returns 2

    monkeypatch.setattr(reconstruct, "reconstruct_with_details", record)
    src = tmp_path / "ball.npy"
    np.save(src, Sphere().sample_surface(300, seed=0))
    assert main(["mesh", str(src), "-o", str(tmp_path / "o.ply"), *flags]) == 2
    assert seen["fairing"] is fairing
    assert not (tmp_path / "o.ply").exists()
