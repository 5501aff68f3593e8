import pytest
from click.testing import CliRunner

from uebench.cli import main, parse_epsilon


def invoke(*args):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("option,value,close", [
    ("--method", "random_roi", "random-roi"), ("--victim", "swinunet", "swinunetr"),
    ("--dataset", "brats-mn", "brats-mni"), ("--defense", "gausian", "gaussian")])
def test_unknown_names_exit_2_with_close_matches(option, value, close, tmp_path):
    args = {"--method": "clean", "--victim": "unet", "--dataset": "spheres", "--defense": "none"}
    args[option] = value
    flat = [x for pair in args.items() for x in pair]
    result = invoke("run", *flat, "--preset", "tiny", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert close in result.output


@pytest.mark.parametrize("eps", ["0", "-4/255", "abc", "4/0", "nan", "inf", "300/255", "1.01"])
def test_bad_epsilon_exits_2(eps, tmp_path):
    result = invoke("run", "--method", "clean", "--victim", "unet", "--eps", eps,
                    "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "epsilon" in result.output


def test_epsilon_parsing():
    assert parse_epsilon("4/255") == pytest.approx(4 / 255)
    assert parse_epsilon("0.5") == 0.5
    assert parse_epsilon("255/255") == 1.0  # the largest bound that still means something
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        parse_epsilon("256/255")


def test_unknown_method_parameter_is_rejected(tmp_path):
    result = invoke("run", "--method", "voxshield", "--victim", "unet", "--param", "lambda=1",
                    "--out", str(tmp_path))
    assert result.exit_code == 2 and "lambda_z" in result.output


def test_victim_size_is_checked(tmp_path):
    result = invoke("run", "--method", "clean", "--victim", "swinunetr", "--preset", "tiny",
                    "--out", str(tmp_path))
    assert result.exit_code == 2 and "at least 64" in result.output


def test_list_and_help():
    listed = invoke("list", "methods")
    assert listed.exit_code == 0 and "voxshield-pgd" in listed.output
    assert "victims:" in invoke("list").output
    text = invoke("run", "--help").output
    for option in ("--method", "--victim", "--dataset", "--defense", "--epsilon", "--seed",
                   "--preset", "--device", "--out", "--param"):
        assert option in text
