// Command chunkcuts prints the lengths of the chunks silo cuts a file into
// with a polynomial, one per line: the reference the Python client's
// chunker is tested against (clients/python/tests/test_chunker.py).
//
//	chunkcuts POLYNOMIAL_HEX FILE
package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/silo-dev/silo/chunk"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) != 3 {
		log.Fatal("usage: chunkcuts POLYNOMIAL_HEX FILE")
	}
	pol, err := chunk.ParsePolynomial(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Open(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	c := chunk.New(pol)
	c.Reset(bufio.NewReaderSize(f, 1<<20))
	buf := make([]byte, chunk.MaxSize)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for {
		b, err := c.Next(buf)
		if err == io.EOF {
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintln(w, len(b))
	}
}
