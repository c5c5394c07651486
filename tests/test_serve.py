"""`deepstart serve`: real runs served through FastAPI's TestClient and through the real server.

Served predictions are checked against `record.model_outputs` on the same inputs (the function
that scores the run offline); every kind of bad request gets a status below 500 and a message that
names the field; the static route serves its own folder only; the server outlives malformed
requests; the command line fails in one line with exit code 2."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import warnings

import httpx
import numpy as np
import pytest
from PIL import Image

from deepstart.cli import main
from deepstart.record import load_data, load_trained_model, model_outputs, read_run
from serve_runs import cancer_frame, cancer_test_rows, trained_runs

with warnings.catch_warnings():  # Starlette's notice that TestClient will move to httpx2
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from deepstart.serve import MAX_BODY_BYTES, create_app, is_loopback


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPSTART_HOME", str(tmp_path_factory.getbasetemp() / "serve-runs" / "home"))
        yield


@pytest.fixture(scope="module")
def runs(tmp_path_factory, home):
    base = tmp_path_factory.getbasetemp() / "serve-runs"
    base.mkdir(exist_ok=True)
    return trained_runs(base)


@pytest.fixture(scope="module")
def clients(runs):
    return {name: TestClient(create_app(folder)) for name, folder in runs.items()}


def offline(folder, n: int | None = None):
    """(raw test inputs, the model's outputs on the prepared test inputs), as the run scores."""
    record = read_run(folder)
    model, spec = load_trained_model(record)
    raw, data = load_data(record)
    x = data.x_test if n is None else data.x_test[:n]
    return raw, model_outputs(model, spec, x, scaling=data.scaling)


def probabilities(answer: dict, classes: list[str]) -> np.ndarray:
    return np.array([answer["probabilities"][c] for c in classes])


def png_bytes(pixels: np.ndarray, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode=mode if mode != "L" else None).save(buffer, "PNG")
    return buffer.getvalue()


# --- predictions equal the offline ones -----------------------------------------------------------

def test_digit_pixels_give_the_offline_probabilities(runs, clients):
    raw, expected = offline(runs["digits"], 20)
    classes = [str(i) for i in range(10)]
    for i in range(20):
        image = raw.x_test[i]  # (1, 8, 8) in the dataset's units, 0..16
        for pixels in (image[0].tolist(), image.tolist()):  # H x W and C x H x W
            answer = clients["digits"].post("/predict", json={"pixels": pixels}).json()
            np.testing.assert_allclose(probabilities(answer, classes), expected.proba[i], atol=1e-6)
            assert answer["predicted"] == classes[expected.predicted[i]]
    assert answer["model"]["run"] == runs["digits"].name


def test_a_run_from_before_model_json_kept_the_pixel_maximum_gets_it_from_its_problem(runs,
                                                                                     tmp_path):
    older = tmp_path / runs["digits"].name
    shutil.copytree(runs["digits"], older)
    spec = json.loads((older / "model.json").read_text())
    assert spec.pop("pixel_max") == 16
    (older / "model.json").write_text(json.dumps(spec))
    schema = TestClient(create_app(older)).get("/schema").json()["input"]
    assert schema["pixel_max"] == 16  # digits store 0..16; the run standardised them per pixel


def test_a_png_as_base64_upload_or_body_is_the_pixels_scaled_to_the_dataset_units(runs, clients):
    raw, _ = offline(runs["digits"], 1)
    grey = np.round(raw.x_test[3, 0] * 255 / 16).astype(np.uint8)  # 0..16 -> a 0..255 PNG
    data = png_bytes(grey)
    by_pixels = clients["digits"].post("/predict", json={"pixels": (grey / 255 * 16).tolist()}).json()
    answers = [
        clients["digits"].post("/predict", json={"image": base64.b64encode(data).decode()}),
        clients["digits"].post("/predict", json={
            "image": "data:image/png;base64," + base64.b64encode(data).decode()}),
        clients["digits"].post("/predict", files={"image": ("digit.png", data, "image/png")}),
        clients["digits"].post("/predict", content=data, headers={"Content-Type": "image/png"}),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
        for c, p in by_pixels["probabilities"].items():
            assert response.json()["probabilities"][c] == pytest.approx(p, abs=1e-6)

    # A larger colour PNG is made grey and resized with Pillow (bilinear), as image folders are.
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (24, 30, 4), dtype=np.uint8)
    resized = Image.fromarray(rgba, "RGBA").convert("L").resize((8, 8), Image.Resampling.BILINEAR)
    expected = clients["digits"].post("/predict", json={
        "pixels": (np.asarray(resized, np.float32) * np.float32(16 / 255)).tolist()}).json()
    got = clients["digits"].post("/predict", content=png_bytes(rgba, "RGBA"),
                                 headers={"Content-Type": "image/png"}).json()
    assert got["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)


def test_iris_features_by_name_give_the_offline_probabilities(runs, clients):
    raw, expected = offline(runs["iris"])
    names = raw.feature_names
    classes = ["setosa", "versicolor", "virginica"]
    rows = [dict(zip(names, map(float, row))) for row in raw.x_test]
    batch = clients["iris"].post("/predict", json={"rows": rows}).json()["predictions"]
    for i, row in enumerate(rows[:10]):
        one = clients["iris"].post("/predict", json={"features": row}).json()
        np.testing.assert_allclose(probabilities(one, classes), expected.proba[i], atol=1e-6)
    got = np.array([[p["probabilities"][c] for c in classes] for p in batch])
    np.testing.assert_allclose(got, expected.proba, atol=1e-6)
    assert [p["predicted"] for p in batch] == [classes[k] for k in expected.predicted]


def test_own_csv_rows_with_categories_and_gaps_give_the_offline_probabilities(runs, clients):
    _, expected = offline(runs["cancer"])
    test = cancer_test_rows(cancer_frame())
    # a row as the CSV has it, target, id and constant included (the model ignores them); a gap
    # is null
    rows = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in json.loads(test.to_json(orient="records"))]
    assert any(r["mean radius"] is None for r in rows) and any(r["clinic"] is None for r in rows)
    response = clients["cancer"].post("/predict", json={"rows": rows})
    assert response.status_code == 200, response.text
    answer = response.json()
    got = np.array([[p["probabilities"]["benign"], p["probabilities"]["malignant"]]
                    for p in answer["predictions"]])
    np.testing.assert_allclose(got, expected.proba, atol=1e-6)
    assert answer["warnings"] == []

    unseen = dict(rows[0], clinic="west")
    answer = clients["cancer"].post("/predict", json={"features": unseen}).json()
    assert answer["warnings"] == ['features.clinic: "west" is not a category seen in training; '
                                  "encoded as none of the known ones (all zeros)"]

    schema = clients["cancer"].get("/schema").json()["input"]
    clinic = next(f for f in schema["features"] if f["name"] == "clinic")
    assert clinic["type"] == "category" and clinic["categories"] == ["east", "north", "south"]
    assert set(schema["ignored"]) == {"patient_id", "scanner", "diagnosis"}


def test_a_forecast_window_gives_the_value_in_passengers(runs, clients):
    raw, expected = offline(runs["airline"])
    schema = clients["airline"].get("/schema").json()
    assert schema["output"] == {"task": "forecast", "target": "passengers"}
    lookback = schema["input"]["lookback"]
    for k, t in enumerate(raw.test_targets[:10]):
        window = raw.series[t - lookback:t].tolist()  # horizon 1: the months before month t
        answer = clients["airline"].post("/predict", json={"window": window}).json()
        assert answer["value"] == pytest.approx(float(expected.predicted[k]), rel=1e-6)
        assert 50 < answer["value"] < 1000  # thousands of passengers, not standardised units


# --- bad requests ---------------------------------------------------------------------------------

IRIS_ROW = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4,
            "petal width (cm)": 0.2}


@pytest.mark.parametrize("run, body, message", [
    ("iris", {"features": IRIS_ROW | {"sepal width (cm)": "abc"}},
     'features["sepal width (cm)"]: expected a number, got "abc"'),
    ("iris", {"features": IRIS_ROW | {"petal width (cm)": True}},
     'features["petal width (cm)"]: expected a number, got true'),
    ("iris", {"features": IRIS_ROW | {"petal width (cm)": None}},
     'features["petal width (cm)"]: expected a number, got null'),
    ("iris", {"features": {k: v for k, v in IRIS_ROW.items() if k != "sepal width (cm)"}},
     'features["sepal width (cm)"]: missing'),
    ("iris", {"features": IRIS_ROW | {"petal widht (cm)": 1}},
     'features["petal widht (cm)"]: unknown feature (did you mean "petal width (cm)"?)'),
    ("iris", {"rows": [IRIS_ROW, IRIS_ROW | {"sepal length (cm)": [1]}]},
     'rows[1]["sepal length (cm)"]: expected a number, got an array'),
    ("iris", {"rows": [IRIS_ROW] * 1001}, "rows: 1001 rows arrived; send at most 1000"),
    ("iris", {"rows": []}, "rows: expected a non-empty array of objects"),
    ("iris", {"features": [5.1, 3.5, 1.4, 0.2]}, "features: expected an object of feature values"),
    ("iris", {"features": IRIS_ROW, "rows": [IRIS_ROW]}, "body: give one of them"),
    ("iris", {"image": "x"}, 'body: unknown field "image"; this table model takes "features"'),
    ("iris", [IRIS_ROW], "body: expected a JSON object"),
    ("cancer", {"features": {"mean radius": 1}}, "features[\"mean texture\"]: missing"),
    ("cancer", {"rows": [json.loads(cancer_frame().iloc[:1].to_json(orient="records"))[0]
                         | {"clinic": {"name": "north"}}]},
     "rows[0].clinic: expected one of the categories \"east\", \"north\", \"south\" (a string), "
     "got an object"),
    ("digits", {"pixels": [[0] * 8] * 7}, "pixels: expected 8 items, got 7 items; pixels is 8 x 8 "
                                           "(or 1 x 8 x 8)"),
    ("digits", {"pixels": [[0] * 8] * 7 + [[0] * 7 + ["1"]]}, 'pixels[7][7]: expected a number, '
                                                             'got "1"'),
    ("digits", {"pixels": [[255] * 8] * 8}, "pixels: values run from 255 to 255; this dataset's "
                                            "pixels run from 0 to 16"),
    ("digits", {"pixels": "0" * 64}, "pixels: expected 8 items, got \"000"),
    ("digits", {"image": 12}, "image: expected a base64 PNG string, got 12"),
    ("airline", {"window": [100] * 3}, "window: expected 13 items, got 3 items"),
    ("airline", {"window": [100] * 12 + [1e39]}, "window[12]: expected a finite number within "
                                                 "float32 range, got 1e+39"),
])
def test_a_body_that_does_not_fit_the_model_is_422_naming_the_field(clients, run, body, message):
    response = clients[run].post("/predict", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(message), response.json()["detail"]


def huge_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buffer, "PNG")  # 25 Mpixels in about 25 KB
    return buffer.getvalue()


@pytest.mark.parametrize("content, content_type, status, message", [
    (b'{"pixels": ', "application/json", 400, "body: not valid JSON"),
    (b'{"pixels": [[NaN]]}', "application/json", 400, "body: NaN is not a JSON number"),
    (b'{"pixels": [[Infinity]]}', "application/json", 400, "body: Infinity is not a JSON number"),
    (b"[" * 200_000, "application/json", 400, "body: JSON nested too deeply"),
    (b"\xff\xfe{}", "application/json", 400, "body: not"),
    (b'{"pixels": [[1e999]]}', "application/json", 422, "pixels: expected 8 items"),
    (b'{"image": "not base64!"}', "application/json", 422, "image: not valid base64"),
    (b'{"image": "aGVsbG8="}', "application/json", 422, "image: not a PNG file"),
    (b"GIF89a....", "image/png", 422, "body: not a PNG file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", 422, "body: the PNG could not be decoded"),
    (b"pixels=1", "application/x-www-form-urlencoded", 415, "Content-Type: application/x-www-form"),
    (b"--xx\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc\r\n--xx--\r\n",
     "multipart/form-data; boundary=xx", 422, 'image: send the PNG as the multipart form field'),
    (b"--xx\r\ngarbage", "multipart/form-data; boundary=xx", 422, "image: send the PNG"),
])
def test_malformed_bodies_are_answered_below_500(clients, content, content_type, status, message):
    response = clients["digits"].post("/predict", content=content,
                                      headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(message), response.json()["detail"]


def test_a_decompression_bomb_is_refused_from_its_header(clients):
    response = clients["digits"].post("/predict", content=huge_png(),
                                      headers={"Content-Type": "image/png"})
    assert response.status_code == 422
    assert response.json()["detail"] == ("body: a 5000 x 5000 image is larger than the 4096 x 4096 "
                                         "accepted")
    response = clients["digits"].post("/predict", files={"image": ("x.png", b"\x89PNG\r\n\x1a\nxx", "image/png")})
    assert response.status_code == 422 and response.json()["detail"].startswith("image: the PNG")


def test_a_body_over_the_limit_is_413_with_or_without_content_length(clients):
    big = b" " * (MAX_BODY_BYTES + 1)
    response = clients["digits"].post("/predict", content=big,
                                      headers={"Content-Type": "application/json"})
    assert response.request.headers["content-length"] == str(len(big))
    assert response.status_code == 413
    assert response.json()["detail"] == "body: larger than the 2,000,000 bytes accepted"

    def chunks(total: int, size: int = 64_000):  # a generator: sent chunked, no Content-Length
        for start in range(0, total, size):
            yield b" " * min(size, total - start)

    for content_type in ("application/json", "image/png", "multipart/form-data; boundary=xx"):
        response = clients["digits"].post("/predict", content=chunks(len(big)),
                                          headers={"Content-Type": content_type})
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert response.status_code == 413, content_type
    # just under the limit: read, then refused for what it is (blank JSON), not for its size
    response = clients["digits"].post("/predict", content=chunks(MAX_BODY_BYTES),
                                      headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize("path", [
    "/static/../model.json", "/static/%2e%2e/model.json", "/static/%2E%2E/%2E%2E/pyproject.toml",
    "/static/..%2fserve.py", "/static/..%2f..%2fserve.py", "/static/%2e%2e%2fserve.py",
    "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/static/....//serve.py",
    "/static/..\\serve.py", "/static/%5c..%5cserve.py", "/static/", "/static/serve.js%00.py",
    "/model.json", "/model.safetensors", "/config.json", "/../model.json", "/%2e%2e/model.json",
])
def test_static_serves_its_own_folder_only(clients, path):
    response = clients["digits"].get(path)
    assert response.status_code == 404, (path, response.text[:80])
    assert response.json() == {"detail": "Not Found"}


def test_page_and_static_files_and_their_policy(clients):
    page = clients["digits"].get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert clients["digits"].head("/").status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for name in ("serve.js", "serve.css"):
        response = clients["digits"].get(f"/static/{name}")
        assert response.status_code == 200 and response.headers["x-content-type-options"] == "nosniff"
        assert not re.search(r"https?://", response.text)  # nothing loaded from elsewhere
    assert not re.search(r"(src|href)=\"https?://", page.text)


def test_health_openapi_and_the_model_identity(runs, clients):
    weights = (runs["iris"] / "model.safetensors").read_bytes()
    health = clients["iris"].get("/health").json()
    assert health == {"status": "ok", "model": {
        "run": runs["iris"].name, "problem": "iris", "family": "mlp", "task": "multiclass",
        "weights_sha256": hashlib.sha256(weights).hexdigest()[:12], "deepstart": "0.1.0"}}
    spec = clients["iris"].get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    features = body["oneOf"][0]["properties"]["features"]
    assert features["properties"]["petal width (cm)"] == {"type": "number"}
    assert {"413", "422"} <= set(spec["paths"]["/predict"]["post"]["responses"])
    image = clients["digits"].get("/openapi.json").json()["paths"]["/predict"]["post"]
    assert set(image["requestBody"]["content"]) == {"application/json", "multipart/form-data",
                                                    "image/png"}


# --- the command ----------------------------------------------------------------------------------

def one_line_error(capsys, argv: list[str], *fragments: str) -> None:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_cli_refuses_unfinished_and_non_run_folders_and_busy_ports(runs, tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(runs["iris"], unfinished)
    (unfinished / "metrics.json").unlink()
    one_line_error(capsys, ["serve", str(unfinished)], "has not finished",
                   "deepstart run --resume")
    one_line_error(capsys, ["serve", str(tmp_path)], "is not a run folder")
    one_line_error(capsys, ["serve", str(tmp_path / "nowhere")], "is not a run folder")
    one_line_error(capsys, ["serve", str(runs["iris"]), "--port", "70000"],
                   "expected a port number from 0 to 65535")
    one_line_error(capsys, ["serve", str(runs["iris"]), "--host", "no-such-host.invalid"],
                   "--host no-such-host.invalid is not an address")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        one_line_error(capsys, ["serve", str(runs["iris"]), "--port", str(port)],
                       f"cannot listen on 127.0.0.1 port {port}", "--port 0")


def test_an_exposed_host_is_warned_about(runs, monkeypatch, capsys):
    import uvicorn

    served = []
    # never served: the socket listens (from bind on) only until the test closes it, unanswered
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: served.append(sockets))
    assert main(["serve", str(runs["iris"]), "--host", "0.0.0.0", "--port", "0"]) == 0
    captured = capsys.readouterr()
    port = served[0][0].getsockname()[1]
    served[0][0].close()
    assert captured.err == (f"deepstart: warning: listening on 0.0.0.0, not on this machine only: "
                            f"anyone who can reach it on port {port} can call the model; use --host "
                            "127.0.0.1 to keep it local.\n")
    assert f"at http://0.0.0.0:{port}/" in captured.out
    assert main(["serve", str(runs["iris"]), "--port", "0"]) == 0
    served[1][0].close()
    assert capsys.readouterr().err == ""
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.168.1.5")


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, half-close, and return whatever comes back (b"" if the server hangs up)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        try:
            while chunk := s.recv(65536):
                reply += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return reply


def test_the_real_server_outlives_malformed_requests(runs):
    proc = subprocess.Popen([sys.executable, "-m", "deepstart.cli", "serve", str(runs["digits"]),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"at http://127\.0\.0\.1:(\d+)/", line)
        assert match, line + proc.stderr.read()
        port = int(match.group(1))
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/health").json()["status"] == "ok"
            statuses = [
                client.post("/predict", content=b"{nope", headers={"Content-Type": "application/json"}),
                client.post("/predict", content=b'{"pixels": [[NaN]]}',
                            headers={"Content-Type": "application/json"}),
                client.post("/predict", json={"image": "%%%"}),
                client.post("/predict", content=huge_png(), headers={"Content-Type": "image/png"}),
                client.post("/predict", content=(b" " * 500_000 for _ in range(5)),
                            headers={"Content-Type": "application/json"}),
                # sent whole before the answer is read: the server reads and drops the rest, so
                # the client gets the 413 rather than a reset connection
                client.post("/predict", content=b" " * 2_500_000,
                            headers={"Content-Type": "application/json"}),
                client.get("/static/%2e%2e/model.json"),
            ]
            assert [r.status_code for r in statuses] == [400, 400, 422, 422, 413, 413, 404]
        replies = [
            raw_exchange(port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n"
                               b"Content-Type: application/json\r\n\r\n{"),
            raw_exchange(port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n"
                               b"Content-Type: application/json\r\n\r\n{\"pix"),  # cut short
            raw_exchange(port, b"\x16\x03\x01\x02\x00 not http at all\r\n\r\n"),
            raw_exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        ]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # curl's way
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n"
                      b"Content-Type: application/json\r\nExpect: 100-continue\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 413")  # at once, no "100 Continue"
        assert replies[0].startswith(b"HTTP/1.1 413")
        assert not any(r.startswith(b"HTTP/1.1 5") for r in replies)
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/health").json()["status"] == "ok"
            answer = client.post("/predict", json={"pixels": [[0] * 8] * 8})
            assert answer.status_code == 200 and len(answer.json()["probabilities"]) == 10
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn shuts down cleanly
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    err = proc.stderr.read()
    assert code == 0 and proc.stdout.read() == "stopped\n", err
    assert "Traceback" not in err and "ERROR" not in err, err
