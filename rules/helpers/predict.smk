# Helpers of users' structures (rules/predict.smk): input, params and resource functions and their
# constants.
def predict_structure_files():
    """{name: file} of config predict.structures (globs expanded, sorted): `name` is the file's
    path relative to the working directory without its suffix (its stem when outside it).
    """
    import glob

    names = {}
    for pattern in config.get("predict", {}).get("structures", []):
        matches = sorted(glob.glob(pattern, recursive=True)) or [pattern]
        for path in matches:
            rel = os.path.relpath(path)
            root = os.path.splitext(rel)[0] if "." in os.path.basename(rel) else rel
            name = os.path.basename(root) if rel.startswith("..") else root
            if name in names and names[name] != path:
                raise ValueError(
                    f"config key 'predict.structures': {names[name]} and {path} would both "
                    f"be written as {name!r}; rename one of them"
                )
            names[name] = path
    return names


def predict_targets():
    if not config.get("predict", {}).get("structures"):
        return []
    model_id = _configured_gnn("predict")
    return [
        path
        for name in predict_structure_files()
        for path in PATHS.predicted_structures(model_id, name).values()
    ]
