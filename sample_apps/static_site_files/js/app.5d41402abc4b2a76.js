// A content-hashed file name: served with "Cache-Control: immutable".
fetch("api/time")
  .then((response) => response.json())
  .then((data) => { document.getElementById("time").textContent = data.time; })
  .catch(() => { document.getElementById("time").textContent = "(unavailable)"; });
