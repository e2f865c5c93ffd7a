"""The curated selection of real photographs taken from Debian (bookworm) data packages.

Pure data plus two tiny helpers; :mod:`qtbench.data.debian_pool` does the fetching. Choices follow
``docs/data.md`` §2, §4 and §7:

* ``clean`` photos are natural, well-exposed scenes used to synthesise degraded/clean pairs;
* ``real_haze`` / ``real_underwater`` / ``real_lowlight`` photos are *really* degraded and never clean;
* paintings (Van Gogh), renders, the ``messi5`` press photo and the studio fish shots fish17/18/25 are
  excluded with a reason;
* ``DarkestHour`` (KDE, misty dusk lake) is listed by docs/data.md both as hazy and as low-light; it gets the
  single role ``real_haze`` so that the real-world sets stay disjoint.

Names in ``roles`` / ``exclude`` / ``notes`` are paths relative to the group's ``base`` without the
file extension (e.g. ``india/goldenTemple``); for ``name_from_dir`` groups, the first path component.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

ROLES = ("clean", "real_haze", "real_underwater", "real_lowlight")

PACKAGES = (
    "gcompris-qt-data",
    "mate-backgrounds",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "plasma-workspace-wallpapers",
    "opencv-doc",
)

# Approximate per-role totals for bookworm; fetch warns (does not fail) when a rebuild drifts from them.
EXPECTED_ROLE_COUNTS = {"clean": 175, "real_haze": 8, "real_underwater": 32, "real_lowlight": 8}

# Licences we can name; anything else (or none found) counts as "unclear" and the file is excluded.
KNOWN_LICENCES = {
    "public-domain", "CC0-1.0", "CC-BY-2.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-2.0", "CC-BY-SA-3.0",
    "CC-BY-SA-4.0", "GPL-2+", "GPL-3+", "LGPL-3.0", "Apache-2.0", "BSD-3-Clause", "Apache-2.0 AND BSD-3-Clause",
}

_GC_RCC = "usr/share/gcompris-qt/rcc"
_GC_SRC = "gcompris/src/activities"
_VAN_GOGH = "painting (Van Gogh), not a photograph"


@dataclass(frozen=True)
class Group:
    """One folder of one package and the photos taken from it."""

    package: str
    slug: str  # id prefix, e.g. "gcompris-monuments"
    base: str  # folder the patterns are relative to (inside the package, or inside the rcc bundle)
    patterns: tuple[str, ...]  # globs; "*" never crosses "/"
    expected: int  # photos kept (after exclusions) in the bookworm version
    rcc: str | None = None  # GCompris: bundle holding the files, relative to the package root
    readme: str | None = None  # GCompris: per-folder README (inside the bundle) giving author/licence
    default_role: str = "clean"
    roles: dict[str, str] = field(default_factory=dict)
    exclude: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    reduce: int = 1  # integer area downscale applied first (GCompris: heavy WebP compression)
    name_from_dir: bool = False  # KDE: the photo's name is its wallpaper folder
    id_strip: str = ""  # suffix dropped from the name when building the id


def _gc(rcc: str, slug: str, sub: str, patterns: tuple[str, ...], expected: int, readme_dir: str | None = None,
        **kw) -> Group:
    base = f"{_GC_SRC}/{sub}"
    readme = f"{_GC_SRC}/{readme_dir or sub}/README"
    return Group("gcompris-qt-data", slug, base, patterns, expected, rcc=f"{_GC_RCC}/{rcc}.rcc", readme=readme,
                 reduce=2, **kw)


GROUPS: tuple[Group, ...] = (
    # ---- GCompris (photos inside Qt resource bundles; per-folder README gives author + licence)
    _gc("erase", "gcompris-erase", "erase/resource", ("*.webp",), 33,
        roles={"dolphin": "real_underwater", "swans": "real_lowlight"},
        notes={"swans": "dark water"}),
    _gc("explore_monuments", "gcompris-monuments", "explore_monuments/resource", ("*/*.webp",), 49,
        roles={"india/goldenTemple": "real_haze", "egypt/bentPyramid": "real_haze",
               "egypt/meidumPyramid": "real_haze", "usa/lincolnMemorial": "real_lowlight",
               "india/gatewayofIndia": "real_lowlight", "germany/brandenburgGate": "real_lowlight"},
        notes={"india/goldenTemple": "urban haze", "egypt/bentPyramid": "dust haze",
               "egypt/meidumPyramid": "dust haze", "usa/lincolnMemorial": "dusk/night, artificial light",
               "india/gatewayofIndia": "dusk/night, artificial light",
               "germany/brandenburgGate": "dusk/night, artificial light"}),
    _gc("explore_world_animals", "gcompris-world-animals", "explore_world_animals/resource/animals",
        ("*.webp",), 15),
    _gc("explore_farm_animals", "gcompris-farm-animals", "explore_farm_animals/resource/animals",
        ("*.webp",), 9),
    _gc("explore_world_music", "gcompris-world-music", "explore_world_music/resource/music", ("*.webp",), 9,
        roles={"japan": "real_lowlight", "ireland": "real_lowlight", "italy": "real_lowlight"},
        notes={"japan": "night festival", "ireland": "dim stage", "italy": "dim stage"}),
    _gc("clickgame", "gcompris-sea", "clickgame/resource", ("sea[0-9].webp",), 6,
        default_role="real_underwater", notes={"sea3": "seen through an aquarium porthole"}),
    _gc("categorization", "gcompris-fishes", "categorization/resource/images/fishes", ("fish*.webp",), 25,
        default_role="real_underwater",
        exclude={"fish17": "studio shot, not underwater", "fish18": "studio shot, not underwater",
                 "fish25": "studio shot, not underwater"}),
    # details: only the full backgrounds (the numbered files are puzzle pieces of them).
    _gc("details", "gcompris-details", "details/resource/image", ("*_background.webp",), 13,
        id_strip="_background",
        roles={"OperaSidney_background": "real_lowlight"},
        exclude={n: _VAN_GOGH for n in (
            "Eglise_dAuvers-sur-Oise_background", "Gogh4_background", "PortraitOfPereTanguy_background",
            "Van_Gogh_The_Night_Cafe_background", "VincentVanGogh0012_background",
            "VincentVanGogh0013_background", "VincentVanGogh0019_background",
            "VincentVanGoghBridge_background")},
        notes={"OperaSidney_background": "night city",
               "Louvre_2007_02_24_c_background": "night scene, well exposed (kept clean per docs/data.md)",
               "NDP_background": "night scene, well exposed (kept clean per docs/data.md)",
               "TowerBridgeLondon_background": "dusk scene, well exposed (kept clean per docs/data.md)"}),
    # ---- Desktop wallpapers (licence from the Debian copyright file)
    Group("mate-backgrounds", "mate", "usr/share/backgrounds/mate", ("nature/*.jpg",), 12,
          notes={"nature/RainDrops": "drops on leaves, not a rain scene",
                 "nature/Storm": "overcast, slight motion blur"}),
    Group("lomiri-wallpapers-16.04", "lomiri", "usr/share/backgrounds", tuple(f"{n}.jpg" for n in (
        "aitzgorri_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi", "life_by_Aitzol_Berasategi",
        "sunset_by_Aitzol_Berasategi", "friends_by_Aitzol_Berasategi", "Bridge_by_Sander_Klootwijk",
        "Dragonfly_by_Bolly", "Wine_by_Jakkub_Mede", "seeding_by_Clements_Engelhardt",
        "free_by_Peter_Nerlich", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
        "umang_by_Abhishek_Mudgal", "analogpattern_by_Peter_Nerlich", "greentock_by_Peter_Nerlich")), 12,
          exclude={"umang_by_Abhishek_Mudgal": "abstract/rendered, not a photograph",
                   "analogpattern_by_Peter_Nerlich": "abstract/rendered, not a photograph",
                   "greentock_by_Peter_Nerlich": "abstract/rendered, not a photograph"}),
    Group("lomiri-wallpapers-20.04", "lomiri", "usr/share/backgrounds", ("Kleiber_by_Lukas_Baubkus.jpg",), 1),
    Group("plasma-workspace-wallpapers", "kde", "usr/share/wallpapers", tuple(
        f"{n}/contents/images/2560x1600.jpg" for n in (
            "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
            "Kite", "OneStandsOut", "Path", "summer_1am")), 11, name_from_dir=True,
          roles={"ColdRipple": "real_haze", "summer_1am": "real_haze", "DarkestHour": "real_haze"},
          notes={"ColdRipple": "dense fog, black-and-white", "summer_1am": "twilight haze",
                 "DarkestHour": "misty dusk lake; docs/data.md lists it as haze AND low-light, kept as real_haze only"}),
    # ---- OpenCV sample data
    Group("opencv-doc", "opencv", "usr/share/doc/opencv-doc/examples/data", tuple(f"{n}" for n in (
        "aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg", "building.jpg",
        "butterfly.jpg", "fruits.jpg", "graf1.png", "graf3.png", "home.jpg", "left.jpg", "right.jpg",
        "leuvenA.jpg", "leuvenB.jpg", "orange.jpg", "rubberwhale1.png", "rubberwhale2.png", "squirrel_cls.jpg",
        "board.jpg", "stuff.jpg", "ela_original.jpg", "messi5.jpg")), 23,
          roles={"aero1": "real_haze", "aero3": "real_haze"},
          exclude={"messi5": "press photograph, provenance unclear"},
          notes={"aero1": "aerial haze", "aero3": "aerial haze",
                 "aloeL": "Middlebury 2006; ground-truth disparity in examples/data/aloeGT.png (not copied)",
                 "baboon": "USC-SIPI classic, provenance unclear: redistributable per Debian only",
                 "fruits": "USC-SIPI classic, provenance unclear: redistributable per Debian only"}),
    Group("opencv-doc", "opencv", "usr/share/doc/opencv-doc/examples",
          ("hfs/data/00[0-2].jpg", "alphamat/input_images/plant.jpg", "reg/home.png"), 5),
)

# Debian copyright files name paths of the *source* tree; map installed prefixes back to it.
SOURCE_PREFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "mate-backgrounds": (("usr/share/backgrounds/mate/", ""),),
    "lomiri-wallpapers-16.04": (("usr/share/backgrounds/", "16.04/"),),
    "lomiri-wallpapers-20.04": (("usr/share/backgrounds/", "20.04/"),),
    "plasma-workspace-wallpapers": (("usr/share/wallpapers/", ""),),
    "opencv-doc": (("usr/share/doc/opencv-doc/examples/data/", "samples/data/"),
                   ("usr/share/doc/opencv-doc/examples/", "contrib/modules/")),
}

# README entries that misspell the file they describe (checked by hand against the bundle listing).
README_ALIASES = {"germany/aulaPalatina.webp": "germany/audaPalatina.webp"}


def glob_match(path: str, pattern: str) -> bool:
    """Segment-wise glob match: like :func:`fnmatch.fnmatchcase`, but ``*`` never crosses ``/``."""
    parts, pats = path.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(fnmatchcase(a, p) for a, p in zip(parts, pats, strict=True))


def photo_name(group: Group, rel: str) -> str:
    """The selection key of file ``rel`` (relative to ``group.base``): extension dropped."""
    if group.name_from_dir:
        return rel.split("/", 1)[0]
    return rel.rsplit(".", 1)[0]


def normalise_licence(text: str | None) -> str | None:
    """Map the spellings found in READMEs/copyright files to one SPDX-like form (``None`` if empty)."""
    if not text or not text.strip():
        return None
    t = " ".join(text.split())
    if t.lower() in ("public domain", "public-domain", "pd"):
        return "public-domain"
    if t in ("GPLv3", "GPL-3", "GPL-3.0+"):
        return "GPL-3+"
    if t in ("LGPLv3", "LGPL-3", "LGPL-3.0-only"):
        return "LGPL-3.0"
    if t.upper().startswith("CC"):
        t = t.replace(" ", "-").upper()
    return t


# ---- licence sources ------------------------------------------------------------------------------
_README_KEYS = {"copyright", "license", "licence", "source", "files", "comment", "comments"}
_FILENAME = re.compile(r"[\w./+-]+\.\w+")
_URL = re.compile(r"https?://\S+")


def parse_gcompris_readme(text: str) -> dict[str, dict[str, str | None]]:
    """Parse a GCompris folder README into ``{file: {"author", "licence", "source_url", "comment"}}``.

    Blocks are separated by blank lines and hold ``Key: value`` lines; file names follow ``Files:``
    either inline or one per line (a few blocks omit the ``Files:`` header and just list them).
    """
    out: dict[str, dict[str, str | None]] = {}
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        files: list[str] = []
        for raw in block.splitlines():
            line = raw.strip()
            m = re.match(r"^(\w+):\s*(.*)$", line)
            if m and m.group(1).lower() in _README_KEYS:
                key, value = m.group(1).lower(), m.group(2).strip()
                if key == "files":
                    files += value.split()
                else:
                    fields[{"licence": "license", "comments": "comment"}.get(key, key)] = value
            elif _FILENAME.fullmatch(line):
                files.append(line)
        comment = fields.get("comment")
        url = fields.get("source") or (_URL.search(comment).group(0) if comment and _URL.search(comment) else None)
        for name in files:
            out[name] = {"author": fields.get("copyright"), "licence": normalise_licence(fields.get("license")),
                         "source_url": url, "comment": comment}
    return out


def parse_dep5(text: str) -> list[dict[str, object]]:
    """Parse a machine-readable Debian copyright file into its ``Files:`` paragraphs.

    Each paragraph becomes ``{"files": [patterns], "copyright": str, "license": first line}``.
    """
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, list[str]] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key].append(line.strip())
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = [value.strip()] if value.strip() else []
        if "files" in fields:
            patterns = [p for chunk in fields["files"] for p in chunk.split()]
            holders = [re.sub(r"\s*<[^>]*>", "", c).strip() for c in fields.get("copyright", [])]
            paragraphs.append({"files": patterns, "copyright": "; ".join(h for h in holders if h),
                               "license": (fields.get("license") or [""])[0]})
    return paragraphs


def dep5_lookup(paragraphs: list[dict[str, object]], source_path: str) -> tuple[str | None, str | None]:
    """``(licence, copyright)`` for ``source_path``; the last matching paragraph wins (DEP-5 rule)."""
    found = (None, None)
    for para in paragraphs:
        if any(fnmatchcase(source_path, pat) for pat in para["files"]):  # type: ignore[union-attr]
            found = (normalise_licence(str(para["license"])), str(para["copyright"]) or None)
    return found


def source_path(package: str, installed: str) -> str:
    """The source-tree path a Debian copyright file uses for the installed file ``installed``."""
    for prefix, src in SOURCE_PREFIXES.get(package, ()):
        if installed.startswith(prefix):
            rest = installed[len(prefix):]
            if src == "contrib/modules/":  # examples/<module>/... comes from <module>/samples/...
                module, _, tail = rest.partition("/")
                return f"{src}{module}/samples/{tail}"
            return src + rest
    return installed
