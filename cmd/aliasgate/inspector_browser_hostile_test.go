package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestInspectorShowsHostileCapturesAsTextInChromium: whatever a client
// sends is shown by the page as text, never run or rendered: markup and
// script in JSON keys and values, a form, a header value, the query, a
// multipart file name and part, and SVG and HTML bodies, in the list, the
// detail of each capture (every tab) and the route builder opened on the
// hostile field. Each payload, run, would set window.__pwned; rendered,
// it would put an <img>, <svg> or <script> element in the page. Regression
// cover (it passed as found): app.js inserts text nodes only, which only a
// browser shows holds, and no test drove hostile content through it.
func TestInspectorShowsHostileCapturesAsTextInChromium(t *testing.T) {
	b := newChromiumPage(t)
	up := newEchoUpstream(t)
	g, _ := inspectorGateway(t, "routes:\n  - {id: shop, direction: inbound, host: \"*\", path_prefix: /shop/, upstream: \""+up.URL+"\"}\n", nil)
	img := func(n int) string { return fmt.Sprintf(`<img src=x onerror="window.__pwned=%d">`, n) }
	script := func(n int) string { return fmt.Sprintf(`</script><script>window.__pwned=%d</script>`, n) }
	svg := func(n int) string {
		return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=%d"><script>window.__pwned=%d</script></svg>`, n, n+1)
	}
	jsonBody := fmt.Sprintf(`{%q:%q,"note":%q,"svg":%q}`, img(1), script(2), img(3)+"</pre></div>"+script(4), svg(5))
	sends := []struct {
		path, ctype, body string
		header            map[string]string
	}{
		{"/shop/json", "application/json", jsonBody, map[string]string{"X-Note": img(7)}},
		{"/shop/form?q=" + strings.ReplaceAll(img(8), " ", "+"), "application/x-www-form-urlencoded", "a=" + strings.ReplaceAll(script(9), " ", "+"), nil},
		{"/shop/upload", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"" + strings.ReplaceAll(img(10), `"`, "'") +
			".svg\"\r\nContent-Type: image/svg+xml\r\n\r\n" + svg(11) + "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"" + strings.ReplaceAll(img(13), `"`, "'") + "\"\r\n\r\n" + script(14) + "\r\n--XyZ--\r\n", nil},
		{"/shop/svg", "image/svg+xml", svg(15), nil},
		{"/shop/html", "text/html", "<html><body>" + img(17) + script(18) + "</body></html>", nil},
	}
	for _, s := range sends {
		status, _ := call(t, "POST", g.inbound+s.path, s.ctype, s.body, func(r *http.Request) {
			for k, v := range s.header {
				r.Header.Set(k, v)
			}
		})
		if status != 200 {
			t.Fatalf("%s: status %d", s.path, status)
		}
	}
	b.do("open the page", chromedp.Navigate(g.admin+"/ui/"))
	b.logIn()
	b.wait("every capture in the list", fmt.Sprintf(`document.querySelectorAll('#list tbody tr').length === %d`, len(sends)))
	for k := range sends {
		path, _, _ := strings.Cut(sends[len(sends)-1-k].path, "?") // newest first
		b.do("open a capture", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelectorAll('#list tbody tr')[%d].click()`, k)))
		b.wait("its detail", fmt.Sprintf(`document.getElementById('detail-pane').textContent.includes(%q)`, path))
		b.do("every tab", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#detail-pane button.tab')].forEach(t => t.click())`))
		b.do("back to what was received", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#detail-pane button.tab')].filter(t => t.textContent.startsWith('received from the client')).forEach(t => t.click())`))
		if path == "/shop/json" {
			b.do("build a route on the hostile key", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#detail-pane .field')].find(f => (f.dataset.path || '').includes('onerror')).click()`))
			b.wait("the proposal", `document.getElementById('b-yaml').value.includes('onerror')`)
			b.wait("its preview", `document.getElementById('b-preview').textContent.includes('onerror')`)
		}
		got, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`JSON.stringify({
			pwned: window.__pwned === undefined ? null : window.__pwned,
			elements: document.querySelectorAll('#list img, #list svg, #list script, #detail-pane img, #detail-pane svg, #detail-pane script, #builder img, #builder svg, #builder script').length,
			shown: document.getElementById('detail-pane').textContent.includes('onerror') || document.getElementById('detail-pane').textContent.includes('onload'),
		})`))
		if err != nil {
			t.Fatal(err)
		}
		if got != `{"pwned":null,"elements":0,"shown":true}` {
			t.Errorf("capture of %s: %s (want no payload run, no element made, the payload shown as text)", path, got)
		}
	}
}
