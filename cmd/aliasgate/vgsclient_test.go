package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// vgsClient is a client of the VGS Vault HTTP API written by hand from
// VGS's api.yaml alone (the OpenAPI document of its published clients,
// v1.0.0 and its newer revision with POST /aliases/delete and the storage
// parameter), without aliasgate's code: every operation, Basic
// authentication, and every answer decoded strictly against the schemas
// (components.schemas): a member the schema does not list in a success
// document, a member of the wrong type, a value outside an enum or a
// created_at that is not a date-time is a shape error. Error documents
// (ApiErrorsResponse) must hold at least one ApiError whose status is an
// integer equal to the response's; members besides ApiError's four are
// tolerated there, as the schema does not close the object.
type vgsClient struct {
	base       string // server URL, e.g. https://api.sandbox.verygoodvault.com
	user, pass string
	hc         *http.Client
}

// vgsAliasFormats is the AliasFormat enum of the newer api.yaml.
var vgsAliasFormats = []string{
	"ALPHANUMERIC_SIX_T_FOUR", "CUSTOM", "FPE_ACC_NUM_T_FOUR", "FPE_ALPHANUMERIC_ACC_NUM_T_FOUR",
	"FPE_SIX_T_FOUR", "FPE_SSN_T_FOUR", "FPE_T_FOUR", "GENERIC_T_FOUR", "JS", "NON_LUHN_FPE_ALPHANUMERIC",
	"NUM_LENGTH_PRESERVING", "PFPT", "RAW_UUID", "UUID", "VGS_FIXED_LEN_GENERIC",
}

// vgsAliasDto is the AliasDto schema (Alias in v1.0.0).
type vgsAliasDto struct {
	Alias  string  `json:"alias"`
	Format *string `json:"format"` // nullable
}

// vgsRevealedData is the RevealedData schema.
type vgsRevealedData struct {
	Value       string        `json:"value"`
	Classifiers []string      `json:"classifiers"`
	Aliases     []vgsAliasDto `json:"aliases"`
	CreatedAt   *string       `json:"created_at"` // date-time, nullable
	Storage     string        `json:"storage"`
}

// vgsAPIError is the ApiError schema.
type vgsAPIError struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Href   string `json:"href"`
}

// vgsResponse is one answer: its status, headers, raw body and, for an
// error status, the ApiErrorsResponse's errors.
type vgsResponse struct {
	Status int
	Header http.Header
	Body   []byte
	Errors []vgsAPIError
}

// vgsStatusError is returned for an answer that is a well-formed
// ApiErrorsResponse (an HTTP error the spec describes).
type vgsStatusError struct{ *vgsResponse }

func (e vgsStatusError) Error() string {
	return fmt.Sprintf("vgs: HTTP %d: %s: %s", e.Status, e.Errors[0].Title, e.Errors[0].Detail)
}

// call sends one request with Basic authentication and JSON body (when
// body is not nil) and checks the answer: want is the success status; any
// other status must carry an ApiErrorsResponse (returned as a
// vgsStatusError). A malformed answer is an error of its own.
func (c *vgsClient) call(method, path string, query url.Values, body any, want int) (*vgsResponse, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	r := &vgsResponse{Status: res.StatusCode, Header: res.Header, Body: b}
	if res.StatusCode == want {
		if want != http.StatusNoContent && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			return r, fmt.Errorf("vgs: content type %q", res.Header.Get("Content-Type"))
		}
		return r, nil
	}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		return r, fmt.Errorf("vgs: HTTP %d with content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var doc struct {
		Errors []vgsAPIError `json:"errors"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return r, fmt.Errorf("vgs: HTTP %d: not an ApiErrorsResponse: %v", res.StatusCode, err)
	}
	if len(doc.Errors) == 0 {
		return r, fmt.Errorf("vgs: HTTP %d: ApiErrorsResponse without errors", res.StatusCode)
	}
	for _, e := range doc.Errors {
		if e.Status != res.StatusCode {
			return r, fmt.Errorf("vgs: HTTP %d: ApiError status %d", res.StatusCode, e.Status)
		}
	}
	r.Errors = doc.Errors
	return r, vgsStatusError{r}
}

// strict decodes b into v refusing members the schema does not list.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("vgs: answer does not match the schema: %w", err)
	}
	return nil
}

// check validates a RevealedData beyond its member types: the storage
// and format enums and the created_at date-time.
func (d vgsRevealedData) check() error {
	if d.Storage != "PERSISTENT" && d.Storage != "VOLATILE" {
		return fmt.Errorf("vgs: storage %q", d.Storage)
	}
	if d.CreatedAt != nil {
		if _, err := time.Parse(time.RFC3339, *d.CreatedAt); err != nil {
			return fmt.Errorf("vgs: created_at %q is not a date-time", *d.CreatedAt)
		}
	}
	if d.Classifiers == nil || d.Aliases == nil {
		return fmt.Errorf("vgs: classifiers or aliases missing")
	}
	for _, a := range d.Aliases {
		if a.Alias == "" || a.Format != nil && !slices.Contains(vgsAliasFormats, *a.Format) {
			return fmt.Errorf("vgs: alias %+v", a)
		}
	}
	return nil
}

// CreateAliases is operationId createAliases: POST /aliases with 1–20
// items, CreateAliasesRequestNew ({value, classifiers, format, storage})
// or CreateAliasesRequestReference ({alias, format}); 201 with the
// RevealedData of each.
func (c *vgsClient) CreateAliases(items []map[string]any) ([]vgsRevealedData, *vgsResponse, error) {
	r, err := c.call("POST", "/aliases", nil, map[string]any{"data": items}, http.StatusCreated)
	if err != nil {
		return nil, r, err
	}
	data, err := decodeData(r, func(d []vgsRevealedData) []vgsRevealedData { return d })
	return data, r, err
}

// decodeData decodes the {"data":…} of a success answer strictly and
// checks each RevealedData in it (listed by each).
func decodeData[T any](r *vgsResponse, each func(T) []vgsRevealedData) (T, error) {
	var doc struct {
		Data T `json:"data"`
	}
	if err := strict(r.Body, &doc); err != nil {
		return doc.Data, err
	}
	for _, d := range each(doc.Data) {
		if err := d.check(); err != nil {
			return doc.Data, err
		}
	}
	return doc.Data, nil
}

// RevealMultipleAliases is operationId revealMultipleAliases: GET
// /aliases with the comma-separated list in param (q in v1.0.0, aliases in
// the newer revision) and an optional storage; 200 with a map alias →
// RevealedData.
func (c *vgsClient) RevealMultipleAliases(param string, aliases []string, storage string) (map[string]vgsRevealedData, *vgsResponse, error) {
	q := url.Values{param: {strings.Join(aliases, ",")}}
	if storage != "" {
		q.Set("storage", storage)
	}
	r, err := c.call("GET", "/aliases", q, nil, http.StatusOK)
	if err != nil {
		return nil, r, err
	}
	data, err := decodeData(r, func(m map[string]vgsRevealedData) []vgsRevealedData { return slices.Collect(maps.Values(m)) })
	return data, r, err
}

// RevealAlias is operationId revealAlias: GET /aliases/{alias} with an
// optional storage; 200 with data, an array of exactly one RevealedData.
func (c *vgsClient) RevealAlias(alias, storage string) (vgsRevealedData, *vgsResponse, error) {
	var q url.Values
	if storage != "" {
		q = url.Values{"storage": {storage}}
	}
	r, err := c.call("GET", "/aliases/"+url.PathEscape(alias), q, nil, http.StatusOK)
	if err != nil {
		return vgsRevealedData{}, r, err
	}
	data, err := decodeData(r, func(d []vgsRevealedData) []vgsRevealedData { return d })
	if err != nil {
		return vgsRevealedData{}, r, err
	}
	if len(data) != 1 {
		return vgsRevealedData{}, r, fmt.Errorf("vgs: data holds %d items (minItems 1, maxItems 1)", len(data))
	}
	return data[0], r, nil
}

// UpdateAlias is operationId updateAlias: PUT /aliases/{alias}
// {"data":{"classifiers":[…]}}; 204.
func (c *vgsClient) UpdateAlias(alias string, classifiers []string) (*vgsResponse, error) {
	return c.call("PUT", "/aliases/"+url.PathEscape(alias), nil,
		map[string]any{"data": map[string]any{"classifiers": classifiers}}, http.StatusNoContent)
}

// DeleteAlias is operationId deleteAlias: DELETE /aliases/{alias} with an
// optional storage; 204.
func (c *vgsClient) DeleteAlias(alias, storage string) (*vgsResponse, error) {
	var q url.Values
	if storage != "" {
		q = url.Values{"storage": {storage}}
	}
	return c.call("DELETE", "/aliases/"+url.PathEscape(alias), q, nil, http.StatusNoContent)
}

// DeleteAliases is operationId deleteAliases: POST /aliases/delete with a
// BatchAliasesRequest {"data":[alias…],"storage":…} (limit 20); 204.
func (c *vgsClient) DeleteAliases(aliases []string, storage string) (*vgsResponse, error) {
	body := map[string]any{"data": aliases}
	if storage != "" {
		body["storage"] = storage
	}
	return c.call("POST", "/aliases/delete", nil, body, http.StatusNoContent)
}
