"""Model registry and store on the shared model folder (downloads: test_model_downloads.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.store.failures import Ways
from tagbox_gui.core.store.models import ENV_BASE_URL, ENV_MODEL_DIR, ModelStore, default_root
from tagbox_gui.core.store.registry import JUKEBOX, REGISTRY, model_info
from tagbox_gui.core.types import TaggerSpec
from tests.core.model_files import FCN, FCN_REL

LOCAL = [  # the checkpoints the shared model folder holds
    TaggerSpec(a, d)
    for d, archs in (
        ("mtat", "fcn crnn musicnn"),
        ("jamendo", "fcn crnn musicnn"),
        ("msd", "fcn crnn"),
    )
    for a in archs.split()
]

WINDOW_WAYS = Ways(  # the ways on as a window might word them
    retry="click Download",
    install="use Locate",
    folder="use Change folder…",
    download="use Download",
)

pytestmark = pytest.mark.usefixtures("offline_models")


# --- registry ---------------------------------------------------------------------------


def test_registry_names_paths_and_urls() -> None:
    taggers = [i for i in REGISTRY.values() if i.kind == "tagger"]
    assert len(taggers) == 12 and len(REGISTRY) == 13
    for info in taggers:
        assert info.spec is not None and info.name == str(info.spec)
        assert info.relpath == f"taggers/{info.spec.dataset}/{info.spec.arch}/best_model.pth"
        assert info.urls == (
            "https://github.com/minzwon/sota-music-tagging-models/raw/master/models/"
            f"{info.spec.dataset}/{info.spec.arch}/best_model.pth",
        )
        assert info.licence == "MIT" and "Pompeu Fabra" in info.licence_text
        assert not info.needs_acceptance
    juke = REGISTRY[JUKEBOX]
    assert JUKEBOX == "jukebox-vqvae-5b" and juke.relpath == "jukebox/vqvae.pth.tar"
    assert juke.urls[0].startswith("https://openaipublic.azureedge.net/")
    assert juke.urls[1].startswith("https://openaipublic.blob.core.windows.net/")
    assert juke.sha256 is None and juke.needs_acceptance and juke.note
    assert "commercial" in juke.licence_text and "Noncommercial" in juke.licence


def test_registry_checksums_match_the_shared_files(model_dir: Path) -> None:
    sums = {}
    for line in (model_dir / "SHA256SUMS").read_text().splitlines():
        sha, rel = line.split()
        sums[rel] = sha
    with_sums = {i.relpath: i for i in REGISTRY.values() if i.sha256 is not None}
    assert set(with_sums) == set(sums)
    for rel, info in with_sums.items():
        assert info.sha256 == sums[rel]
        assert info.size == (model_dir / rel).stat().st_size
    unknown = {i.name for i in REGISTRY.values() if i.sha256 is None}
    assert unknown == {"hcnn/mtat", "hcnn/jamendo", "hcnn/msd", "musicnn/msd", JUKEBOX}
    assert all(REGISTRY[name].note for name in unknown)


def test_model_info_lookup() -> None:
    assert model_info(" FCN/MTAT ").name == FCN
    with pytest.raises(ModelError, match="unknown model 'vgg/mtat'; choose one of: fcn/mtat"):
        model_info("vgg/mtat")


def test_root_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    default = default_root()
    assert default.name == "models" and "tagbox-gui" in str(default)
    assert ModelStore().root == default
    monkeypatch.setenv(ENV_MODEL_DIR, str(tmp_path / "env"))
    assert ModelStore().root == tmp_path / "env"
    assert ModelStore(tmp_path / "arg").root == tmp_path / "arg"


def test_urls_follow_base_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ModelStore(tmp_path, base_urls=()).urls(JUKEBOX) == REGISTRY[JUKEBOX].urls
    store = ModelStore(tmp_path, base_urls=["http://a/x/", "http://b"])
    assert store.urls(FCN) == (f"http://a/x/{FCN_REL}", f"http://b/{FCN_REL}")
    monkeypatch.setenv(ENV_BASE_URL, "http://m1  http://m2/")
    assert ModelStore(tmp_path).urls(JUKEBOX) == (
        "http://m1/jukebox/vqvae.pth.tar",
        "http://m2/jukebox/vqvae.pth.tar",
    )


# --- store on the shared folder -----------------------------------------------------------


def test_shared_folder_contents(model_dir: Path) -> None:
    store = ModelStore(model_dir)
    assert store.available_taggers() == LOCAL
    assert not store.has_jukebox()
    assert (
        store.tagger_path(TaggerSpec("crnn", "msd"))
        == model_dir / "taggers/msd/crnn/best_model.pth"
    )
    assert store.status("musicnn/jamendo") == "present" and store.status("hcnn/mtat") == "missing"


def test_verify_shared_folder(model_dir: Path) -> None:
    store = ModelStore(model_dir)
    results = {name: store.verify(name) for name in REGISTRY}
    assert {results[str(spec)] for spec in LOCAL} == {"verified"}
    assert {n for n, r in results.items() if r != "verified"} == {
        "hcnn/mtat",
        "hcnn/jamendo",
        "hcnn/msd",
        "musicnn/msd",
        JUKEBOX,
    }
    assert set(results.values()) == {"verified", "missing"}


def test_missing_model_names_the_fetch_command(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    with pytest.raises(ModelError, match=r"download it with `tagbox models fetch fcn/mtat`$"):
        store.path(FCN)
    with pytest.raises(
        ModelError, match=r"`tagbox models fetch jukebox-vqvae-5b --accept-license`"
    ):
        store.jukebox_path()
    assert store.available_taggers() == [] and store.verify(FCN) == "missing"


def test_a_missing_model_is_advice_each_front_end_words(tmp_path: Path) -> None:
    """A model not in the store leaves its way on (downloading it) for the front end to word:
    ``str()`` is the command line's, the window says its own button."""
    from tagbox_gui.core.store.failures import Advised

    with pytest.raises(Advised) as caught:
        ModelStore(tmp_path).jukebox_path()
    problem = f"model {JUKEBOX} is not installed in {tmp_path}"
    command = f"tagbox models fetch {JUKEBOX} --accept-license"
    assert str(caught.value) == f"{problem}; download it with `{command}`"
    window = caught.value.told(WINDOW_WAYS)
    assert window == f"{problem}; use Download"


def test_verify_detects_mismatch(tmp_path: Path, model_dir: Path) -> None:
    store = ModelStore(tmp_path)
    target = store.location(FCN)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\0" * REGISTRY[FCN].size)  # right size, wrong bytes
    assert store.verify(FCN) == "mismatch"
    target.write_bytes(b"short")
    assert store.verify(FCN) == "mismatch"
    target.write_bytes((model_dir / FCN_REL).read_bytes())
    assert store.verify(FCN) == "verified"


UNREADABLE = Path("/proc/self/mem")  # a regular file whose first byte cannot be read (EIO),
# even by root, who can read any file whatever its permissions


def test_a_file_that_cannot_be_read_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    target = store.location(FCN)
    target.parent.mkdir(parents=True)
    target.symlink_to(UNREADABLE)
    assert store.verify(FCN) == "unreadable"
    with pytest.raises(ModelError, match=r"cannot be read .*check its permissions"):
        ModelStore(tmp_path / "other").install_file(FCN, UNREADABLE)
    assert not (tmp_path / "other").exists()


def test_a_folder_that_cannot_be_searched_is_advice_each_front_end_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a folder on the way to a model may not be searched, the error leaves its way on
    (another model folder) for the front end to word: ``str()`` is the command line's."""
    from tagbox_gui.core.store import models
    from tagbox_gui.core.store.failures import Advised

    monkeypatch.setattr(models, "_file_state", lambda path: (None, "Permission denied"))
    with pytest.raises(Advised) as caught:
        ModelStore(tmp_path).path(FCN)
    problem = f"model fcn/mtat cannot be looked up in {tmp_path} (Permission denied)"
    advice = "check the permissions of its folders, or choose another model folder with"
    assert str(caught.value) == f"{problem}; {advice} --model-dir or ${ENV_MODEL_DIR}"
    window = caught.value.told(WINDOW_WAYS)
    assert window == f"{problem}; check the permissions of its folders, or use Change folder…"


@pytest.mark.parametrize("linked", [False, True])
def test_a_remembered_model_folder_that_is_gone_is_not_made_again(
    tmp_path: Path, linked: bool
) -> None:
    """A store whose folder must be there (``make_root=False``: one remembered from an earlier
    session, on a drive that may be unplugged) refuses to download or install into it while it
    is gone, instead of making it again where the drive was mounted; it says so. A remembered
    link to such a drive (~/models -> /media/usb/models) is gone as well."""
    from tagbox_gui.core.store.failures import FolderUnusable

    gone = drive = tmp_path / "Disk" / "models"
    if linked:
        if os.name != "posix":
            pytest.skip("symbolic links as POSIX has them")
        gone = tmp_path / "models"
        gone.symlink_to(drive)
    source = tmp_path / "best_model.pth"
    source.write_bytes(b"PK\x03\x04 a checkpoint")
    store = ModelStore(gone, base_urls=[(tmp_path / "mirror").as_uri()], make_root=False)
    assert store.root_gone()
    attempts = (lambda: store.fetch(FCN), lambda: store.install_file(FCN, source),
                lambda: store.path(FCN))  # a run asking for a model: not "download it"  # fmt: skip
    for attempt in attempts:
        with pytest.raises(FolderUnusable) as caught:
            attempt()
        assert f"the model folder {gone} is not there" in str(caught.value)
        assert "plug it in" in caught.value.told(WINDOW_WAYS)
        assert not (tmp_path / "Disk").exists()
    drive.mkdir(parents=True)  # the drive is back
    assert not store.root_gone()
    assert not ModelStore(tmp_path / "new").root_gone()  # a folder it may make


@pytest.mark.skipif(os.name != "posix", reason="symbolic links as POSIX has them")
def test_a_remembered_model_folder_that_links_to_nothing_names_the_link(tmp_path: Path) -> None:
    """A remembered model folder that is a link to a drive not plugged in (~/models ->
    /media/usb/models): the refusal names the link and where it leads, as the Models window
    does, not only that the folder is not there; a folder simply gone is said as before."""
    from tagbox_gui.core.store.failures import FolderUnusable

    link, usb = tmp_path / "models", tmp_path / "usb" / "models"
    link.symlink_to(usb)
    folder = "choose another model folder with --model-dir or $TAGBOX_MODEL_DIR"
    with pytest.raises(FolderUnusable) as caught:
        ModelStore(link, make_root=False).path(FCN)
    said = f"'{link}' is a link to '{usb}', which is not there (a drive not plugged in?)"
    assert caught.value.cause == said
    assert str(caught.value) == (
        f"the model folder {link} is not there: {said}; plug it in, or {folder}"
    )
    gone = tmp_path / "Disk" / "models"
    with pytest.raises(FolderUnusable) as caught:
        ModelStore(gone, make_root=False).path(FCN)
    assert caught.value.cause == f"the model folder {gone} is not there"
    assert str(caught.value) == (
        f"the model folder {gone} is not there; if it is on a drive that is not plugged in, "
        f"plug it in; or {folder}"
    )


CHECKED_WITHOUT_TORCH_FIRST = """
import json, sys
from pathlib import Path
from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.separation.checkpoints import check_model_file
import tagbox_gui.cli.models
seen = {"imported": "torch" in sys.modules, "said": []}
for name in sys.argv[2:]:
    try:
        check_model_file(name, Path(sys.argv[1]))
    except ModelError as exc:
        seen["said"].append(str(exc))
seen["checked"] = "torch" in sys.modules
print(json.dumps(seen))
"""


def test_the_model_file_check_loads_torch_only_when_it_checks(tmp_path: Path) -> None:
    """The check that an install of a file without a known checksum runs (``tagbox models
    install``, the Models dialog's Locate) has one home, importable with the CLI's models
    command without torch; checking a file loads it, and refuses one that is not the model."""
    junk = tmp_path / "model.pth"
    junk.write_bytes(b"not a checkpoint")
    done = subprocess.run(
        [sys.executable, "-c", CHECKED_WITHOUT_TORCH_FIRST, str(junk), "hcnn/mtat", JUKEBOX],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["imported"] is False and seen["checked"] is True
    hcnn, jukebox = seen["said"]
    assert "hcnn/mtat tagger weights" in hcnn and "corrupt" in hcnn
    assert "Jukebox VQ-VAE file" in jukebox and "corrupt" in jukebox


def test_the_missing_models_are_those_a_download_would_bring(tmp_path: Path) -> None:
    """``missing`` names, each once and in order, the models not in the store; none where the
    store's folder is gone (plugging a drive in brings them, not a download) or cannot be
    searched (nobody can tell)."""
    jamendo = "fcn/jamendo"
    store = ModelStore(tmp_path / "models")
    placed = store.location(FCN)
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"PK\x03\x04 a checkpoint")
    assert store.missing([jamendo, FCN, jamendo, JUKEBOX]) == [jamendo, JUKEBOX]
    assert ModelStore(tmp_path / "gone", make_root=False).missing([FCN, jamendo]) == []
    if os.name == "posix" and os.geteuid() != 0:  # root searches any folder
        (tmp_path / "models").chmod(0)
        try:
            assert store.missing([jamendo]) == []
        finally:
            (tmp_path / "models").chmod(0o755)
