package proxy

import (
	"net/http"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
)

// ErrorHeader is set on every answer the outbound proxy makes itself (a
// refusal, an upstream failure): its value is the error code, and its
// presence says that aliasgate, not the destination, answered.
const ErrorHeader = "Aliasgate-Error"

// ErrorType is the type of the top-level error object of the outbound
// proxy's error documents.
const ErrorType = "aliasgate_error"

// The outbound proxy's clients are payment SDKs, and some of them decide
// success by the body alone: the Stripe Node library raises only when the
// JSON body has an "error" member, whatever the status. So the outbound
// proxy's error documents carry, beside JSON:API's "errors" list, a
// top-level "error" object in the shape processors use ({"error": {"type",
// "code", "message"}}), and the ErrorHeader; the status codes are those of
// the refusal.

// outboundErrorDocument is the outbound proxy's error document.
type outboundErrorDocument struct {
	Errors []jsonapi.ErrorObject `json:"errors"`
	Error  outboundErrorObject   `json:"error"`
}

type outboundErrorObject struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// outboundErrors is a ResponseWriter whose error documents
// (jsonapi.ErrorDocumenter) are outboundErrorDocument.
type outboundErrors struct{ http.ResponseWriter }

func (w outboundErrors) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ErrorDocument implements jsonapi.ErrorDocumenter.
func (outboundErrors) ErrorDocument(e *jsonapi.Error) any {
	doc := outboundErrorDocument{Errors: e.Objects,
		Error: outboundErrorObject{Type: ErrorType, Code: errorCode(e), Message: e.Error(), Status: e.Status}}
	if doc.Errors == nil {
		doc.Errors = []jsonapi.ErrorObject{}
	}
	return doc
}

// errorCode is the code of e's first object, or "aliasgate_error".
func errorCode(e *jsonapi.Error) string {
	if len(e.Objects) > 0 && e.Objects[0].Code != "" {
		return e.Objects[0].Code
	}
	return ErrorType
}

// writeOutboundError writes the outbound proxy's answer e: its error
// document and ErrorHeader.
func writeOutboundError(w http.ResponseWriter, e *jsonapi.Error) {
	w.Header().Set(ErrorHeader, errorCode(e))
	jsonapi.WriteError(outboundErrors{w}, jsonapi.MediaType, e)
}
