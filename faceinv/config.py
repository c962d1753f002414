"""Settings as dataclasses: one per command, its flags generated from it.

Each script keeps its settings in one dataclass whose fields are made with
`setting(default, help, ...)`. From it come the command-line flags (`--batch-size`
for `batch_size`, unless `flags` names others), the help text (with the paper's
value where it differs), the `config.json` every run writes beside its outputs,
and `--config FILE`, which reruns a run from that file (flags given as well
override it). A driver (reproduce_table1.py) builds a script's settings with
`dataclasses.replace` and calls the function the script's `main` calls.
"""
import argparse
import dataclasses
import os
import shlex

from faceinv import files
from faceinv.errors import InputError

CONFIG_FILE = "config.json"


def setting(default, help="", *, flags=(), paper=None, choices=None, type=None, positional=False,
            output=False, metavar=None):
    """A dataclass field with what its flag needs. `output`: the field only says where
    files go, so a resumed training run may change it; `type` is needed where the
    default is None."""
    metadata = {"help": help, "flags": tuple(flags), "paper": paper, "choices": choices,
                "type": type, "positional": positional, "output": output, "metavar": metavar}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def override(cls, name, default):
    """A field of dataclass `cls` with another default: a script's own path for a library setting."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return setting(default, **field.metadata)


def _default(field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _help(field):
    m, default = field.metadata, _default(field)
    text = m.get("help", "")
    shown = [] if default in (None, "", [], False) else [f"default: {default}"]
    if m.get("paper") is not None:
        shown.append(f"paper: {m['paper']}")
    return f"{text} ({'; '.join(shown)})" if shown else text


def add_arguments(parser, cls):
    """One flag per field of the dataclass `cls`."""
    for field in dataclasses.fields(cls):
        m, default = field.metadata, _default(field)
        kind = m.get("type") or type(default)
        options = {"dest": field.name, "default": default, "help": _help(field).replace("%", "%%")}
        if m.get("metavar"):
            options["metavar"] = m["metavar"]
        if m.get("positional"):
            del options["dest"]
            parser.add_argument(field.name, nargs="?", **options)
            continue
        names = m.get("flags") or ("--" + field.name.replace("_", "-"),)
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif kind is list:
            options["action"] = "append"
            options["default"] = None  # argparse would append to the default list itself
        else:
            options["type"] = kind
            if m.get("choices"):
                options["choices"] = m["choices"]
        parser.add_argument(*names, **options)


def _from_namespace(cls, namespace):
    values = {}
    for field in dataclasses.fields(cls):
        value = getattr(namespace, field.name)
        if value is None and isinstance(_default(field), list):
            value = _default(field)
        values[field.name] = value
    return cls(**values)


def _positionals_given(parser, cls, config):
    for field in dataclasses.fields(cls):
        if field.metadata.get("positional") and getattr(config, field.name) in (None, ""):
            parser.error(f"the following arguments are required: {field.name}")


def _config_option(parser):
    parser.add_argument("--config", metavar="FILE",
                        help=f"rerun with the settings in FILE (the {CONFIG_FILE} a run wrote); "
                             "flags given as well override them")


def _preset(argv):
    """The --config FILE of argv, if any (read before the flags, which override it)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    return pre.parse_known_args(argv)[0].config


def parser_for(cls, description):
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    _config_option(parser)
    add_arguments(parser, cls)
    return parser


def parse(cls, argv=None, description=None):
    """The settings of a command from its flags (and --config FILE)."""
    parser = parser_for(cls, description)
    preset = _preset(argv)
    if preset:
        parser.set_defaults(**vars(read(cls, preset)))
    config = _from_namespace(cls, parser.parse_args(argv))
    _positionals_given(parser, cls, config)
    return config


def parse_command(commands, argv=None, description=None):
    """(command name, its settings) for a script with subcommands; `commands` maps
    each name to (dataclass, one-line help)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    subparsers = {}
    for name, (cls, help) in commands.items():
        subparsers[name] = sub.add_parser(name, help=help, description=help)
        _config_option(subparsers[name])
        add_arguments(subparsers[name], cls)
    preset = _preset(argv)
    if preset:
        name = parser.parse_known_args(argv)[0].command
        subparsers[name].set_defaults(**vars(read(commands[name][0], preset)))
    namespace = parser.parse_args(argv)
    cls = commands[namespace.command][0]
    config = _from_namespace(cls, namespace)
    _positionals_given(subparsers[namespace.command], cls, config)
    return namespace.command, config


def as_dict(config):
    return dataclasses.asdict(config)


def read(cls, path):
    """The settings saved in a config.json; a key `cls` does not know is an error
    (a file of another script, or of an older version)."""
    if not os.path.isfile(path):
        raise InputError(f"config file {path} does not exist")
    try:
        values = files.load_json(path)
    except ValueError as error:
        raise InputError(f"{path} is not a JSON config ({error})") from None
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"{path} holds settings this command does not have ({', '.join(unknown)}): "
                         "is it another script's config?")
    return dataclasses.replace(cls(), **values)


def write(folder, config, name=CONFIG_FILE):
    """Save the resolved settings of a run into its output folder."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    files.save_json(path, as_dict(config))
    return path


def _flag(name):
    return "--" + name.replace("_", "-")


def require(config, *names):
    """Settings a command cannot run without (flags with no default)."""
    missing = [_flag(n) for n in names if getattr(config, n) in (None, "")]
    if missing:
        raise InputError(f"give {', '.join(missing)}")


def check_positive(config, *names):
    bad = [f"{_flag(n)} {getattr(config, n)}" for n in names if not getattr(config, n) > 0]
    if bad:
        raise InputError(f"these must be positive: {', '.join(bad)}")


def check_non_negative(config, *names):
    bad = [f"{_flag(n)} {getattr(config, n)}" for n in names if not getattr(config, n) >= 0]
    if bad:
        raise InputError(f"these must not be negative: {', '.join(bad)}")


def resumable_settings(config):
    """What a resumed training run must share with the run that wrote its checkpoints:
    every setting except how many epochs to run and where files go."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if f.name != "epochs" and not f.metadata.get("output")}


def command_line(script, config, command=None):
    """The command that runs `config` alone: the flags whose values differ from the defaults."""
    words = ["python", script] + ([command] if command else [])
    defaults = type(config)()
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if value == getattr(defaults, field.name):
            continue
        m = field.metadata
        if m.get("positional"):
            words.append(str(value))
            continue
        flag = (m.get("flags") or ("--" + field.name.replace("_", "-"),))[0]
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, list):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)
