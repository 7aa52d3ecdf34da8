"""Mobile export of MMNet to LiteRT (.tflite): conversion, operator checks, interpreter runs.

Part of the ``[mobile]`` extra (conversion needs litert-torch; the checks need only
ai-edge-litert). Used by ``scripts/export_tflite.py`` and ``scripts/check_tflite.py``; the
runtime package never imports it.
"""
