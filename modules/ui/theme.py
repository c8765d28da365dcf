"""The studio's look: a clean, DeepSeek-like theme (system fonts only, so it renders offline) and a little CSS."""
from __future__ import annotations

import gradio as gr

ACCENT = "#4D6BFE"
ACCENT_HOVER = "#3B57E8"
SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Noto Sans", "PingFang SC",
                "Microsoft YaHei", "sans-serif")

CSS = """
.gradio-container { max-width: 1180px !important; margin: 0 auto !important; }
#studio-header { display: flex; align-items: center; gap: .6rem; flex-wrap: wrap; padding: .4rem 0 0 0; }
#studio-header .logo { width: 34px; height: 34px; border-radius: 10px; background: #4D6BFE; color: white;
  display: inline-flex; align-items: center; justify-content: center; font-weight: 800; font-size: 18px; }
#studio-header h1 { font-size: 1.45rem; font-weight: 700; margin: 0; letter-spacing: -.01em; }
#studio-header .pill { background: #EEF2FF; color: #4D6BFE; border-radius: 999px; padding: 2px 10px;
  font-size: .78rem; font-weight: 600; }
#studio-tagline p { color: var(--body-text-color-subdued); margin: 0; font-size: .9rem; }
#studio-status { font-size: .78rem; color: var(--body-text-color-subdued); }
#studio-status .ready { color: #16A34A; } #studio-status .waiting { color: #9CA3AF; }
#studio-status .unavailable { color: #DC2626; }
#studio-language { max-width: 220px; }
.route-line p, .notice-line p { font-size: .82rem; margin: 0; color: var(--body-text-color-subdued); }
.notice-line p { color: #B45309; }
.chat-tools { justify-content: flex-end; gap: .4rem; }
#chatbot .message-row .bot { box-shadow: none; }
"""


def studio_theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="blue", secondary_hue="indigo", neutral_hue="slate", radius_size="lg",
                          font=SYSTEM_FONTS, font_mono=("ui-monospace", "SFMono-Regular", "Menlo", "monospace")).set(
        button_primary_background_fill=ACCENT,
        button_primary_background_fill_hover=ACCENT_HOVER,
        button_primary_text_color="white",
        slider_color=ACCENT,
        block_radius="14px",
    )
