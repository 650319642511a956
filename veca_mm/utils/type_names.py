# Copyright (c) veca_mm contributors. Apache-2.0.
"""The bare registered name of a config's ``type``, however it is written."""

__all__ = ['type_name']


def type_name(cfg_or_type) -> str:
    """``'CheckpointHook'`` for ``dict(type='mmengine.CheckpointHook')``,
    ``dict(type=CheckpointHook)``, ``'CheckpointHook'`` or the class itself
    (pure-Python configs hold classes; scoped names carry a ``scope.``)."""
    t = cfg_or_type.get('type', '') if isinstance(cfg_or_type, dict) \
        else cfg_or_type
    if isinstance(t, type):
        return t.__name__
    if isinstance(t, str):
        return t.rsplit('.', 1)[-1]
    return getattr(t, '__name__', str(t))


def registered_class(registry, type_, scope=None):
    """The class ``type_`` names in ``registry`` (looked up in ``scope``'s
    child registry first, as the runner would), or None when it cannot be
    found."""
    if isinstance(type_, type):
        return type_
    if not isinstance(type_, str):
        return None
    keys = [type_]
    if scope and '.' not in type_:
        # the root registry resolves the scope, falling back to its own
        keys.insert(0, f'{scope}.{type_}')
    for key in keys:
        try:
            cls = registry.get(key)
        except Exception:  # noqa: BLE001 - unknown scope/type
            cls = None
        if cls is not None:
            return cls
    return None
