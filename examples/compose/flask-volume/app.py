import os

from flask import Flask, request

app = Flask(__name__)
UPLOAD_DIR = os.environ.get("UPLOAD_DIR", "/app/uploads")


@app.route("/", methods=["GET", "POST"])
def files():
    os.makedirs(UPLOAD_DIR, exist_ok=True)
    if request.method == "POST":
        name = os.path.basename(request.args.get("name", "note.txt"))
        with open(os.path.join(UPLOAD_DIR, name), "wb") as f:
            f.write(request.get_data())
    return {"files": sorted(os.listdir(UPLOAD_DIR))}


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
