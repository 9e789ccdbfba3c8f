"""The web admin panel: a page, its ES modules and styles served from the package, reading everything from
the management and inference services with the key the user signs in with."""
