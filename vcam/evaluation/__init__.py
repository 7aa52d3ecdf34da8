"""Evaluation: alpha-matte metrics, the MediaPipe peer, the harder 16:9 set and reports.

Never imported by the runtime; numpy and cv2 only, plus ai-edge-litert for the peer.
"""
