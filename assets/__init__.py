"""kgen's shipped files: the app icon, the desktop launcher, the theme and the lessons.

Read them with ``importlib.resources.files("assets")``, never by a path into the repository, so
they are found the same in a checkout and in an installed package (see assets/README.md).
"""
