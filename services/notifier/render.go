package notifier

import (
	"bytes"
	"embed"
	htmltemplate "html/template"
	texttemplate "text/template"
)

//go:embed templates
var templateFS embed.FS

// pair renders one kind of message as text and as HTML from the same data.
type pair struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

func mustPair(name string) pair {
	return pair{
		text: texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/"+name+".txt")),
		html: htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/"+name+".html")),
	}
}

var (
	digestMail   = mustPair("digest")
	referralMail = mustPair("referral")
	noticeMail   = mustPair("notice")
)

// render fills m's Text and HTML from p with data, which must carry the
// subject as Subject.
func (p pair) render(m *Message, data any) error {
	var t, h bytes.Buffer
	if err := p.text.Execute(&t, data); err != nil {
		return err
	}
	if err := p.html.Execute(&h, data); err != nil {
		return err
	}
	m.Text, m.HTML = t.String(), h.String()
	return nil
}
