"""Image thumbnails for grids of examples (misclassified test images, predictions on the
user's images): a uint8 [c, h, w] array becomes a pixmap of about one size.

Made on the GUI thread (a QPixmap may not be made elsewhere); tasks hand over arrays.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QListView, QListWidget

from desktop_app.kit.widgets import described

THUMBNAIL_PX = 72


def thumbnail(image: Any, size: int = THUMBNAIL_PX) -> QPixmap:
    """A uint8 [c, h, w] image (or [h, w]) as a pixmap of about `size`: enlarged by a whole
    factor with nearest-neighbour (pixels stay sharp squares), or shrunk smoothly if larger."""
    import numpy as np  # not at import: the window's first paint does not wait for it

    if image is None:
        return QPixmap()
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[None]
    channels, height, width = array.shape
    if channels >= 3:
        data = np.ascontiguousarray(array[:3].transpose(1, 2, 0))
        qimage = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    else:
        data = np.ascontiguousarray(array[0])
        qimage = QImage(data.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    pixmap = QPixmap.fromImage(qimage)
    side = max(height, width)
    if side <= size:
        factor = max(1, size // side)
        return pixmap.scaled(
            width * factor,
            height * factor,
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.FastTransformation,
        )
    return pixmap.scaled(
        size,
        size,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


def thumbnail_grid(
    object_name: str, accessible: str, tip: str, size: int = THUMBNAIL_PX
) -> QListWidget:
    """A read-only grid of captioned thumbnails of about `size`, wrapped to the width."""
    grid = described(QListWidget(), accessible, tip, object_name=object_name)
    grid.setViewMode(QListView.ViewMode.IconMode)
    grid.setMovement(QListView.Movement.Static)
    grid.setResizeMode(QListView.ResizeMode.Adjust)
    grid.setWrapping(True)
    grid.setWordWrap(True)
    grid.setUniformItemSizes(True)
    grid.setSpacing(4)
    grid.setIconSize(QSize(size, size))
    return grid
