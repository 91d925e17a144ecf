"""hermetic-fs: the ``filesystem`` guard (read-only filesystems, reads confined to a root).

``fs_readonly=True`` (``--fs-readonly``) refuses every write; ``fs_root=ROOT``
(``--fs-readonly=ROOT``) also confines reads to ROOT plus the interpreter's own files;
``allow_write=[DIR, ...]`` (``--allow-write DIR``) keeps writes allowed under DIR.
"""

from hermetic.contract import DEEPER, Option, define_guard
from hermetic_fs._options import merge_writable, normalize_root, normalize_writable

guard = define_guard(
    "filesystem",
    summary="Makes the filesystem read-only, optionally confining reads to one root.",
    patch_module="hermetic_fs._patch",
    options=[
        Option(
            "fs_readonly",
            bool,
            flags=["--fs-readonly"],
            help="Refuse every filesystem write; --fs-readonly=ROOT also confines reads to ROOT.",
            enables=True,
            value_into="fs_root",
        ),
        Option(
            "fs_root",
            str,
            flags=["--fs-root"],
            help="Read-only, and reads confined to ROOT (plus the interpreter's own files).",
            merge=DEEPER,
            enables=True,
            metavar="ROOT",
            normalize=normalize_root,
        ),
        Option(
            "allow_write",
            list,
            flags=["--allow-write"],
            help="Keep writes allowed under PATH, e.g. a temporary or output directory.",
            merge=merge_writable,
            metavar="PATH",
            normalize=normalize_writable,
        ),
    ],
)

__all__ = ["guard"]
