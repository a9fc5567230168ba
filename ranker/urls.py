"""The site's URL scheme: where each page lives, derived from ids in one place.

The build writes pages at these paths, the request replies link to them, and the pages'
scripts receive the same scheme as data instead of re-deriving it.
"""

from __future__ import annotations

from ranker.records import Architecture


def model_file(model_id: str) -> str:
    """A model id as one path segment; ids never hold "--", so the name is unique and safe."""
    return model_id.replace("/", "--")


def model_page(arch: Architecture, model_id: str) -> str:
    """Path of a model's page, relative to the site's root."""
    return f"models/{arch.slug}/{model_file(model_id)}.html"


def architecture_page(arch: Architecture) -> str:
    """Path of an architecture's page, relative to the site's root."""
    return f"arch/{arch.slug}.html"


def badge_base(arch: Architecture, model_id: str) -> str:
    """Path of a model's badges, without the extension."""
    return f"badges/{arch.slug}/{model_file(model_id)}"


def rows_prefix(arch: Architecture) -> str:
    """Folder of an architecture page's row chunks."""
    return f"rows/{arch.slug}/"
