import os

import mysql.connector
from flask import Flask

app = Flask(__name__)


def connect():
    with open("/run/secrets/db-password") as f:
        password = f.read().strip()
    return mysql.connector.connect(user="root", password=password, host="db", database="example")


@app.route("/")
def list_blogs():
    conn = connect()
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS blog (id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(255))")
    cur.execute("SELECT title FROM blog")
    titles = [row[0] for row in cur]
    conn.close()
    return {"blogs": titles}


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8000)
