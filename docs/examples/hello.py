# A Dispatch function in Python: `dispatch create function hello-py docs/examples/hello.py --wait`,
# then `dispatch exec hello-py --input '{"name":"Jon"}'`.


def handle(context, payload):
    payload = payload or {}
    name = payload.get("name", "Noone")
    place = payload.get("place", "Nowhere")
    print("greeting", name)
    return {"myField": "Hello, %s from %s" % (name, place)}
