package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Console tail limits, GET /api/v1/vms/{name}/console?bytes=N.
const (
	DefaultConsoleBytes = 64 << 10
	MaxConsoleBytes     = 1 << 20
)

// maxBody bounds a request body: a VM spec at the limits of SPEC A5 (12
// volumes, 20 NICs) is a few KiB.
const maxBody = 64 << 10

// vmActions are the VM verbs, POST /api/v1/vms/{name}/{action}.
var vmActions = []string{"start", "shutdown", "poweroff", "migrate"}

// VM names come from the path as they are (ServeMux unescapes them): the
// backend checks their syntax, in one place for the API and the console.

func (s *Server) vms(w http.ResponseWriter, r *http.Request) {
	vms, err := s.backend.VMs(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if vms == nil {
		vms = []VM{}
	}
	s.writeJSON(w, http.StatusOK, VMList{VMs: vms})
}

func (s *Server) vm(w http.ResponseWriter, r *http.Request) {
	vm, err := s.backend.VM(r.Context(), r.PathValue("name"))
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, vm)
}

func (s *Server) createVM(w http.ResponseWriter, r *http.Request) {
	var spec VMSpec
	if !s.decode(w, r, &spec) {
		return
	}
	vm, err := s.backend.CreateVM(r.Context(), spec)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: VM %s created from %s", vm.Name, clientIP(r))
	w.Header().Set("Location", "/api/v1/vms/"+url.PathEscape(vm.Name))
	s.writeJSON(w, http.StatusCreated, vm)
}

func (s *Server) modifyVM(w http.ResponseWriter, r *http.Request) {
	var change VMSpec
	if !s.decode(w, r, &change) {
		return
	}
	name := r.PathValue("name")
	vm, err := s.backend.ModifyVM(r.Context(), name, change)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: VM %s modified from %s", name, clientIP(r))
	s.writeJSON(w, http.StatusOK, vm)
}

func (s *Server) deleteVM(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.backend.DeleteVM(r.Context(), name); err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: VM %s deleted from %s", name, clientIP(r))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) vmAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := s.backend.VMAction(r.Context(), name, action); err != nil {
			s.backendError(w, r, err)
			return
		}
		s.log.Printf("api: %s of VM %s requested from %s", action, name, clientIP(r))
		s.writeJSON(w, http.StatusAccepted, VMActionResult{VM: name, Action: action, Status: "accepted"})
	}
}

func (s *Server) noVMAction(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf(
		"no VM action %q; the actions are start, shutdown, poweroff, migrate (POST) and console (GET)", r.PathValue("action")))
}

func (s *Server) vmConsole(w http.ResponseWriter, r *http.Request) {
	n, err := consoleQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, http.StatusBadRequest, CodeBadParameter, err.Error())
		return
	}
	b, err := s.backend.VMConsole(r.Context(), r.PathValue("name"), n)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if len(b) > n { // the bound is the API's promise, whatever the backend does
		b = b[len(b)-n:]
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// consoleQuery parses ?bytes=<1..MaxConsoleBytes>; like alertQuery it
// refuses unknown parameters.
func consoleQuery(q url.Values) (int, error) {
	n := DefaultConsoleBytes
	for k, v := range q {
		if len(v) != 1 {
			return 0, fmt.Errorf("parameter %q given %d times", k, len(v))
		}
		if k != "bytes" {
			return 0, fmt.Errorf("unknown parameter %q; console takes bytes", k)
		}
		var err error
		if n, err = strconv.Atoi(v[0]); err != nil || n < 1 || n > MaxConsoleBytes {
			return 0, fmt.Errorf("parameter \"bytes\": %q is not a number from 1 to %d", v[0], MaxConsoleBytes)
		}
	}
	return n, nil
}

func (s *Server) storage(w http.ResponseWriter, r *http.Request) {
	groups, err := s.backend.Storage(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if groups == nil {
		groups = []StorageGroup{}
	}
	s.writeJSON(w, http.StatusOK, StorageList{Groups: groups})
}

func (s *Server) capacity(w http.ResponseWriter, r *http.Request) {
	c, err := s.backend.Capacity(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, c)
}

// decode reads a JSON body into v. Unknown fields and trailing data are
// refused: a misspelt field silently ignored would change a VM other than
// the administrator meant.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooBig):
		s.writeError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, fmt.Sprintf("body larger than %d bytes", maxBody))
	case errors.Is(err, io.EOF):
		s.writeError(w, http.StatusBadRequest, CodeBadRequest, "empty body: want a JSON object")
	default:
		s.writeError(w, http.StatusBadRequest, CodeBadRequest, "body: "+err.Error())
	}
	return false
}
