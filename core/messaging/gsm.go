package messaging

import "unicode/utf16"

// Encoding is how a text travels over SMS.
type Encoding string

// Encodings. GSM-7 packs 160 characters of the GSM 03.38 alphabet in one
// message; anything outside it makes the whole text UCS-2, 70 characters a
// message.
const (
	GSM7 Encoding = "gsm7"
	UCS2 Encoding = "ucs2"
)

// Segment sizes: a text longer than one message is split into parts that
// each lose room to the concatenation header.
const (
	gsm7Single = 160
	gsm7Part   = 153
	ucs2Single = 70
	ucs2Part   = 67
)

// gsmBasic is the GSM 03.38 default alphabet (one septet each), less the
// escape to the extension table.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension is the GSM 03.38 extension table: each is an escape plus a
// septet, two septets.
const gsmExtension = "\f^{}\\[~]|€"

var gsmSeptets = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExtension {
		m[r] = 2
	}
	return m
}()

// Encode returns the encoding a text needs and how many SMS segments it
// takes. An empty text is one segment.
func Encode(text string) (Encoding, int) {
	septets := make([]int, 0, len(text))
	for _, r := range text {
		n, ok := gsmSeptets[r]
		if !ok {
			return UCS2, ucs2Segments(text)
		}
		septets = append(septets, n)
	}
	return GSM7, segments(septets, gsm7Single, gsm7Part)
}

func ucs2Segments(text string) int {
	units := make([]int, 0, len(text))
	for _, r := range text {
		units = append(units, len(utf16.Encode([]rune{r})))
	}
	return segments(units, ucs2Single, ucs2Part)
}

// segments counts the parts needed for characters of the given widths: one
// if they fit in single, else parts of part, a character never split
// across two parts (an escape and its septet, a surrogate pair).
func segments(widths []int, single, part int) int {
	total := 0
	for _, w := range widths {
		total += w
	}
	if total <= single {
		return 1
	}
	n, used := 1, 0
	for _, w := range widths {
		if used+w > part {
			n, used = n+1, 0
		}
		used += w
	}
	return n
}
